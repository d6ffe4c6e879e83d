package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var operatorTokenLine = regexp.MustCompile(`operator token: (\S+)`)

// bootstrapToken reads the operator token from the first-start banner on stdout.
func bootstrapToken(tb testing.TB, stdout string) string {
	tb.Helper()
	m := operatorTokenLine.FindStringSubmatch(stdout)
	if m == nil {
		tb.Fatalf("no operator token in serve's stdout:\n%s", stdout)
	}
	return m[1]
}

// randomToken is an operator token value for SCIMTRAIL_BOOTSTRAP_TOKEN, shaped like the
// ones scimtrail issues (prefix and 256 bits).
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "stk_operator_" + hex.EncodeToString(b[:])
}

// issued is the admin API's answer to issuing a token.
type issued struct {
	ID     string `json:"id"`
	Token  string `json:"token"`
	Kind   string `json:"kind"`
	Tenant string `json:"tenant"`
}

// oktaUser is a User as Okta's "SCIM 2.0 Test App" sends it on assignment.
func oktaUser(userName, given, family string) map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    userName,
		"name":        map[string]any{"givenName": given, "familyName": family},
		"emails":      []map[string]any{{"primary": true, "value": userName, "type": "work"}},
		"displayName": given + " " + family,
		"locale":      "en-US",
		"externalId":  "00u" + strings.ReplaceAll(userName, "@", "_"),
		"groups":      []any{},
		"password":    "Nei1Eebies",
		"active":      true,
	}
}

// TestNewcomerFlow is the path a new operator takes: first start prints an operator token,
// then over HTTP: create a tenant, issue its SCIM token, provision a user and a group
// containing it, see the membership on the user, and find every step in the audit log.
func TestNewcomerFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s := startServer(t, env{}, dsn)
		out := s.stdout.String()
		op := client{tb: t, base: s.URL, token: bootstrapToken(t, out)}
		for _, want := range []string{s.URL + "/console/", "curl -H \"Authorization: Bearer " + op.token, s.URL + "/api/v1/tenants"} {
			if !strings.Contains(out, want) {
				t.Errorf("the first-start banner does not contain %q:\n%s", want, out)
			}
		}

		if status, body := op.with("").do("GET", "/api/v1/tenants", nil); status != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/tenants without a token: status %d, want 401; body %s", status, body)
		}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme", "name": "Acme"}, nil)
		var tok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim", "name": "okta"}, &tok)
		if !strings.HasPrefix(tok.Token, "stk_scim_") || tok.ID == "" {
			t.Fatalf("issued token = %+v, want an id and a stk_scim_ secret", tok)
		}
		scim := op.with(tok.Token)

		var user struct {
			ID       string `json:"id"`
			UserName string `json:"userName"`
		}
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("alice@example.com", "Alice", "Liddell"), &user)
		if user.ID == "" || user.UserName != "alice@example.com" {
			t.Fatalf("created user = %+v", user)
		}
		var group struct {
			ID string `json:"id"`
		}
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Engineering",
			"members":     []map[string]string{{"value": user.ID}},
		}, &group)

		var got struct {
			Groups []struct {
				Value   string `json:"value"`
				Display string `json:"display"`
			} `json:"groups"`
		}
		scim.must(http.StatusOK, "GET", "/scim/v2/acme/Users/"+user.ID, nil, &got)
		if len(got.Groups) != 1 || got.Groups[0].Value != group.ID || got.Groups[0].Display != "Engineering" {
			t.Errorf("user's groups = %+v, want [{%s Engineering}]", got.Groups, group.ID)
		}

		// The SCIM token is for SCIM only, and only for its own tenant.
		if status, body := scim.do("GET", "/api/v1/tenants", nil); status != http.StatusUnauthorized && status != http.StatusForbidden {
			t.Errorf("SCIM token on the admin API: status %d, want 401 or 403; body %s", status, body)
		}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "globex", "name": "Globex"}, nil)
		if status, body := scim.do("GET", "/scim/v2/globex/Users/"+user.ID, nil); status != http.StatusUnauthorized && status != http.StatusNotFound && status != http.StatusForbidden {
			t.Errorf("acme's SCIM token on globex: status %d, want it refused; body %s", status, body)
		}

		entries := op.auditLog("acme")
		checkGapFree(t, entries)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		ui := slices.IndexFunc(entries, func(e auditEntry) bool {
			return e.Action == "user.created" && e.Target != nil && e.Target.ID == user.ID
		})
		gi := slices.IndexFunc(entries, func(e auditEntry) bool {
			return e.Action == "group.created" && e.Target != nil && e.Target.ID == group.ID
		})
		if ui < 0 || gi < 0 || ui > gi {
			t.Fatalf("audit log actions %v: want user.created for %s before group.created for %s", actions, user.ID, group.ID)
		}
		if e := entries[ui]; e.Channel != "scim" || e.Actor.Type != "idp_sync" {
			t.Errorf("user.created was recorded with channel %q actor %q, want scim and idp_sync", e.Channel, e.Actor.Type)
		}
	})
}

// TestBootstrapTokenFromEnv: SCIMTRAIL_BOOTSTRAP_TOKEN becomes the operator token, is never
// echoed, and a restart on the same database does not create another one.
func TestBootstrapTokenFromEnv(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		preset := randomToken()
		e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": preset}
		s := startServer(t, e, dsn)
		if out := s.stdout.String(); strings.Contains(out, preset) || !strings.Contains(out, "$SCIMTRAIL_BOOTSTRAP_TOKEN") {
			t.Errorf("banner must refer to $SCIMTRAIL_BOOTSTRAP_TOKEN without echoing it:\n%s", out)
		}
		op := client{tb: t, base: s.URL, token: preset}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme", "name": "Acme"}, nil)
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}

		s = startServer(t, e, dsn)
		if out := s.stdout.String(); out != "" {
			t.Errorf("second start printed a banner again:\n%s", out)
		}
		op.base = s.URL
		status, body := op.do("GET", "/api/v1/tenants", nil)
		if status != http.StatusOK || !strings.Contains(string(body), `"acme"`) {
			t.Fatalf("GET /api/v1/tenants after restart: status %d body %s; want acme listed", status, body)
		}
	})
}

var issuedLine = regexp.MustCompile(`issued (\w+) token (\S+) for tenant (\S+)`)

// TestCLI drives tenant and token administration through the CLI, on the same database a
// running server uses, and checks that the server honours what the CLI did.
func TestCLI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := env{"SCIMTRAIL_DB": dsn}
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": randomToken()}, dsn)

		out := mustCLI(t, e, "tenant", "create", "acme", "--name", "Acme Corp")
		if !strings.Contains(out, "acme") {
			t.Errorf("tenant create printed %q", out)
		}
		if r := runCLI(t, e, "tenant", "create", "acme"); r.code != 1 {
			t.Errorf("creating acme twice: exit %d, want 1; stderr %s", r.code, r.stderr)
		}
		// A flag beats the environment: --db points at the real database even though
		// SCIMTRAIL_DB names another.
		other := env{"SCIMTRAIL_DB": backends()[0].newDSN(t)}
		out = mustCLI(t, other, "tenant", "list", "--db", dsn)
		if !regexp.MustCompile(`(?m)^acme\s+Acme Corp\s`).MatchString(out) {
			t.Errorf("tenant list does not show acme and its name:\n%s", out)
		}

		r := runCLI(t, e, "token", "issue", "--tenant", "acme", "--kind", "scim", "--name", "okta", "--expires", "90d")
		if r.code != 0 {
			t.Fatalf("token issue: exit %d: %v\n%s", r.code, r.err, r.stderr)
		}
		secret := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(secret, "stk_scim_") || strings.Contains(secret, "\n") {
			t.Fatalf("token issue stdout = %q, want only the stk_scim_ secret", r.stdout)
		}
		m := issuedLine.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("token issue stderr does not name the token:\n%s", r.stderr)
		}
		id := m[2]
		if !strings.Contains(r.stderr, "expires "+time.Now().UTC().Add(90*24*time.Hour).Format("2006-01-02")) {
			t.Errorf("token issue with --expires 90d does not report an expiry 90 days out:\n%s", r.stderr)
		}
		if r := runCLI(t, e, "token", "issue", "--tenant", "nosuch", "--kind", "scim"); r.code != 1 {
			t.Errorf("token issue for an unknown tenant: exit %d, want 1", r.code)
		}

		out = mustCLI(t, e, "token", "list", "--tenant", "acme")
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+acme\s+scim\s+okta\s+active\s`)
		if !row.MatchString(out) {
			t.Errorf("token list does not show %s as an active scim token named okta:\n%s", id, out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("token list shows the secret:\n%s", out)
		}

		scim := client{tb: t, base: s.URL, token: secret}
		var bob struct{ ID string }
		scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser("bob@example.com", "Bob", "Builder"), &bob)
		scim.must(http.StatusOK, "GET", "/scim/v2/acme/Users", nil, nil)
		scim.must(http.StatusOK, "GET", "/scim/v2/acme/Users/"+bob.ID, nil, nil)

		mustCLI(t, e, "token", "revoke", id)
		if status, body := scim.do("GET", "/scim/v2/acme/Users", nil); status != http.StatusUnauthorized {
			t.Errorf("revoked token's next request: status %d, want 401; body %s", status, body)
		}
		// GET /Users/{id} reads the token together with the user: revoked there too.
		if status, body := scim.do("GET", "/scim/v2/acme/Users/"+bob.ID, nil); status != http.StatusUnauthorized {
			t.Errorf("revoked token's GET of a user: status %d, want 401; body %s", status, body)
		}
		out = mustCLI(t, e, "token", "list", "--tenant", "acme")
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s.*\srevoked\s`).MatchString(out) {
			t.Errorf("token list does not show %s as revoked:\n%s", id, out)
		}
		if r := runCLI(t, e, "token", "revoke", "tok_nosuch"); r.code != 1 {
			t.Errorf("revoking an unknown token: exit %d, want 1", r.code)
		}

		// The CLI's changes are in the tenant's log, attributed to the CLI.
		op := client{tb: t, base: s.URL, token: s.presetToken(t)}
		entries := op.auditLog("acme")
		checkGapFree(t, entries)
		var cli int
		for _, e := range entries {
			if e.Actor.Type == "admin" && e.Actor.ID == "cli" && e.Channel == "admin_api" {
				cli++
			}
		}
		if cli < 2 { // token issued, token revoked (and tenant created, if it is logged here)
			t.Errorf("audit log has %d entries by the CLI, want at least 2: %+v", cli, entries)
		}

		mustCLI(t, e, "migrate")
	})
}

// presetToken returns the SCIMTRAIL_BOOTSTRAP_TOKEN the server was started with.
func (s *server) presetToken(tb testing.TB) string {
	tb.Helper()
	if s.env["SCIMTRAIL_BOOTSTRAP_TOKEN"] == "" {
		tb.Fatal("server was started without SCIMTRAIL_BOOTSTRAP_TOKEN")
	}
	return s.env["SCIMTRAIL_BOOTSTRAP_TOKEN"]
}

// TestGracefulShutdown cancels the server (as SIGTERM does) while a request is still
// sending its body: the request completes, the server then stops, and the write is durable.
func TestGracefulShutdown(t *testing.T) {
	dsn := backends()[0].newDSN(t)
	preset := randomToken()
	e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": preset}
	s := startServer(t, e, dsn)
	op := client{tb: t, base: s.URL, token: preset}
	op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme", "name": "Acme"}, nil)
	var tok issued
	op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &tok)

	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.URL+"/scim/v2/acme/Users", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"late@example.com","active":true}`
	w := bufio.NewWriter(pw)
	w.WriteString(body[:20])
	w.Flush()
	// Give the server time to read the headers, so the connection is active, not idle,
	// when shutdown begins.
	time.Sleep(200 * time.Millisecond)
	s.cancel()
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("the in-flight request finished before its body was sent: %+v", r)
	default:
	}
	w.WriteString(body[20:])
	w.Flush()
	pw.Close()

	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: status %d err %v body %s; want 201", r.status, r.err, r.body)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after a graceful shutdown", err)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", s.stderr)
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Errorf("the server still accepts connections after stopping")
	}

	s = startServer(t, e, dsn)
	scim := client{tb: t, base: s.URL, token: tok.Token}
	status, b := scim.do("GET", `/scim/v2/acme/Users?filter=userName%20eq%20%22late@example.com%22`, nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"totalResults":1`) {
		t.Errorf("after restart, the user created during shutdown: status %d body %s", status, b)
	}
}

// TestServeRefusesBusyAddress: a second server on a taken port fails with exit 1 and
// closes its database (a later CLI call on the same file works).
func TestServeRefusesBusyAddress(t *testing.T) {
	dsn := backends()[0].newDSN(t)
	e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": randomToken()}
	s := startServer(t, e, dsn)
	addr := strings.TrimPrefix(s.URL, "http://")
	r := runCLI(t, e, "serve", "--addr", addr, "--db", dsn)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "listen") {
		t.Fatalf("second serve on %s: exit %d err %v, want 1 and a listen error", addr, r.code, r.err)
	}
	mustCLI(t, env{"SCIMTRAIL_DB": dsn}, "tenant", "list")
}
