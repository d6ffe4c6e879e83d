package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignIn(t *testing.T) {
	f := newFixture(t)

	t.Run("RedirectsToSignIn", func(t *testing.T) {
		status, _, loc := f.get(t, f.client(t), "/console/t/acme/users")
		if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin?next=") {
			t.Fatalf("got %d %q, want a 303 to the sign-in page", status, loc)
		}
	})
	t.Run("SCIMTokenRefused", func(t *testing.T) {
		status, body, _ := f.post(t, f.client(t), "/console/signin", url.Values{"token": {f.globexSCIM}}, nil)
		if status != http.StatusUnauthorized || !strings.Contains(body, "SCIM tokens cannot sign in") {
			t.Fatalf("got %d, want 401 with an explanation; body:\n%s", status, body)
		}
	})
	t.Run("CookieAttributes", func(t *testing.T) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/console/signin", strings.NewReader(url.Values{"token": {f.acmeAdmin}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := f.client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console/"} {
			if !strings.Contains(c, want) {
				t.Errorf("Set-Cookie %q lacks %s", c, want)
			}
		}
		if strings.Contains(c, f.acmeAdmin) {
			t.Errorf("the cookie carries the token's secret: %q", c)
		}
	})
	t.Run("RevocationEndsSession", func(t *testing.T) {
		c := f.client(t)
		it, _, err := f.svc.IssueToken(t.Context(), operator, "acme", "admin", "short-lived", 0)
		if err != nil {
			t.Fatal(err)
		}
		f.signIn(t, c, it.Secret)
		if status, _, _ := f.get(t, c, "/console/t/acme/"); status != http.StatusOK {
			t.Fatalf("overview: %d, want 200", status)
		}
		if _, err := f.svc.RevokeToken(t.Context(), operator, "acme", it.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, loc := f.get(t, c, "/console/t/acme/"); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
			t.Fatalf("after revocation: %d %q, want a redirect to sign-in", status, loc)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		c := f.client(t)
		f.signIn(t, c, f.acmeAdmin)
		if status, _, loc := f.post(t, c, "/console/signout", nil, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
			t.Fatalf("sign out: %d %q", status, loc)
		}
		if status, _, _ := f.get(t, c, "/console/t/acme/"); status != http.StatusSeeOther {
			t.Fatalf("after sign-out: %d, want 303", status)
		}
	})
	t.Run("ForgedCookie", func(t *testing.T) {
		c := f.client(t)
		f.signIn(t, c, f.acmeAuditor)
		u, _ := url.Parse(f.srv.URL + "/console/")
		ck := c.Jar.Cookies(u)[0]
		// Swap in another token id but keep the signature: the console must refuse it.
		ck.Value = "dG9rX2FkbWlufGFjbWV8OTk5OTk5OTk5OQ" + ck.Value[strings.IndexByte(ck.Value, '.'):]
		ck.Path = "/console/"
		c.Jar.SetCookies(u, []*http.Cookie{ck})
		if status, _, _ := f.get(t, c, "/console/t/acme/"); status != http.StatusSeeOther {
			t.Fatalf("forged cookie: %d, want 303 to sign-in", status)
		}
	})
}

func TestAuditorCannotChange(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAuditor)
	status, body, _ := f.get(t, c, "/console/t/acme/connect")
	if status != http.StatusOK {
		t.Fatalf("connect page: %d", status)
	}
	if strings.Contains(body, `id="issue-form"`) || !strings.Contains(body, "auditor token") {
		t.Fatalf("an auditor sees the issue form, or no explanation why not:\n%s", body)
	}
	before := len(f.entries(t, "acme"))
	status, body, _ = f.post(t, c, "/console/t/acme/connect/tokens", url.Values{"name": {"sneaky"}, "expires": {"30d"}}, nil)
	if status != http.StatusForbidden || !strings.Contains(body, "change nothing") {
		t.Fatalf("auditor POST: %d, want 403 with an explanation:\n%s", status, body)
	}
	if after := len(f.entries(t, "acme")); after != before {
		t.Fatalf("the log grew from %d to %d entries after a refused change", before, after)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	h := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	status, _, _ := f.post(t, c, "/console/t/acme/connect/tokens", url.Values{"name": {"csrf"}, "expires": {"30d"}}, h)
	if status != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", status)
	}
	toks, _ := f.svc.Tokens(t.Context(), "acme")
	for _, tok := range toks {
		if tok.Name == "csrf" {
			t.Fatal("a cross-site POST issued a token")
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	for _, path := range []string{"/console/t/globex/", "/console/t/globex/users", "/console/t/globex/users/" + f.globexUserID,
		"/console/t/globex/audit", "/console/t/globex/connect", "/console/t/nosuch/users"} {
		status, body, _ := f.get(t, c, path)
		if status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
		if strings.Contains(body, f.globexUser) || strings.Contains(body, "Globex") {
			t.Errorf("GET %s shows globex's data:\n%s", path, body)
		}
	}
	status, _, _ := f.post(t, c, "/console/t/globex/connect/tokens", url.Values{"name": {"x"}, "expires": {"30d"}}, nil)
	if status != http.StatusNotFound {
		t.Errorf("POST to globex: %d, want 404", status)
	}
	// The user id of another tenant is not found under one's own tenant either.
	if status, _, _ := f.get(t, c, "/console/t/acme/users/"+f.globexUserID); status != http.StatusNotFound {
		t.Errorf("globex's user under acme: %d, want 404", status)
	}
}

func TestOperatorPicksTenant(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.operatorSecret)
	if status, _, loc := f.get(t, c, "/console/"); status != http.StatusSeeOther || loc != "/console/tenants" {
		t.Fatalf("operator home: %d %q", status, loc)
	}
	_, body, _ := f.get(t, c, "/console/tenants")
	for _, want := range []string{"Acme Corp", "Globex Inc", `href="/console/t/globex/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("tenant picker lacks %q", want)
		}
	}
	if status, body, _ := f.get(t, c, "/console/t/globex/users"); status != http.StatusOK || !strings.Contains(body, f.globexUser) {
		t.Fatalf("operator on globex's users: %d", status)
	}
}

func TestConsoleChangesAreLogged(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	status, body, _ := f.post(t, c, "/console/t/acme/connect/tokens", url.Values{"name": {"okta"}, "expires": {"90d"}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "stk_scim_") || !strings.Contains(body, "shown only once") {
		t.Fatalf("issue: %d\n%s", status, body)
	}
	es := f.entries(t, "acme")
	last := string(es[len(es)-1].Body)
	for _, want := range []string{`"channel":"console"`, `"action":"token.issued"`, `"type":"delegated_admin"`} {
		if !strings.Contains(last, want) {
			t.Errorf("last entry lacks %s: %s", want, last)
		}
	}
	// The secret is shown once: the connect page never shows it again.
	_, page, _ := f.get(t, c, "/console/t/acme/connect")
	if strings.Contains(page, "stk_scim_") {
		t.Fatal("the connect page shows a secret again")
	}
}

func TestEmptyStatesSayWhatToDo(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.signIn(t, c, f.acmeAdmin)
	for path, want := range map[string]string{
		"/console/t/acme/users":   "connect an IdP",
		"/console/t/acme/groups":  "No groups yet",
		"/console/t/acme/connect": "No SCIM token yet",
		"/console/t/acme/":        "has not sent anything yet",
	} {
		if _, body, _ := f.get(t, c, path); !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
}
