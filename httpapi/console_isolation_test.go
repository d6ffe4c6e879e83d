package httpapi_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// consoleRow says how the console matrix exercises one console route: the form a POST
// sends (ref is the id of a user or group the request names, own is the signed-in tenant's
// user and group ids, for the auditor's attempts), and whether the route is about a tenant.
type consoleRow struct {
	form     func(ref string) url.Values
	nameOnly bool // the form names ref only as free text (a new token's name)
	noTenant bool // a page of the session itself (sign-in, picker, static files)
}

func roleForm(ref string) url.Values { return url.Values{"id": {"iso-role"}, "name": {"Iso " + ref}} }
func mappingForm(ref string) url.Values {
	return url.Values{"group": {ref}, "role": {"iso-role"}}
}
func grantForm(ref string) url.Values {
	return url.Values{"user": {ref}, "role": {"iso-role"}, "reason": {"iso"}}
}
func breakGlassForm(ref string) url.Values {
	return url.Values{"user": {ref}, "role": {"iso-role"}, "justification": {"iso"}, "duration": {"1h"}}
}
func tokenForm(ref string) url.Values { return url.Values{"name": {"iso " + ref}, "expires": {"30d"}} }

// consoleMatrix has a row for every route of the console (package httpapi/console).
// TestIsolationMatrixCoversEveryRoute fails when a console route has no row here.
var consoleMatrix = map[string]consoleRow{
	"GET /console/static/":                                             {noTenant: true},
	"GET /console/{$}":                                                 {noTenant: true},
	"GET /console/signin":                                              {noTenant: true},
	"POST /console/signin":                                             {noTenant: true},
	"POST /console/signout":                                            {noTenant: true},
	"GET /console/tenants":                                             {noTenant: true},
	"GET /console/t/{tenant}/{$}":                                      {},
	"GET /console/t/{tenant}/connect":                                  {},
	"POST /console/t/{tenant}/connect/tokens":                          {form: tokenForm, nameOnly: true},
	"POST /console/t/{tenant}/connect/tokens/{id}/rotate":              {},
	"POST /console/t/{tenant}/connect/tokens/{id}/revoke":              {},
	"GET /console/t/{tenant}/users":                                    {},
	"GET /console/t/{tenant}/users/{id}":                               {},
	"GET /console/t/{tenant}/groups":                                   {},
	"GET /console/t/{tenant}/groups/{id}":                              {},
	"GET /console/t/{tenant}/roles":                                    {},
	"POST /console/t/{tenant}/roles":                                   {form: roleForm},
	"GET /console/t/{tenant}/roles/{role}":                             {},
	"POST /console/t/{tenant}/mappings":                                {form: mappingForm},
	"POST /console/t/{tenant}/mappings/{id}/delete":                    {},
	"POST /console/t/{tenant}/grants":                                  {form: grantForm},
	"POST /console/t/{tenant}/grants/{id}/revoke":                      {},
	"GET /console/t/{tenant}/break-glass":                              {},
	"POST /console/t/{tenant}/break-glass":                             {form: breakGlassForm},
	"POST /console/t/{tenant}/break-glass/{id}/approve":                {},
	"POST /console/t/{tenant}/break-glass/{id}/deny":                   {form: func(string) url.Values { return url.Values{"reason": {"iso"}} }},
	"GET /console/t/{tenant}/audit":                                    {},
	"GET /console/t/{tenant}/audit/checkpoint":                         {},
	"GET /console/t/{tenant}/audit/proof":                              {},
	"GET /console/t/{tenant}/service-accounts":                         {},
	"POST /console/t/{tenant}/service-accounts":                        {form: serviceAccountForm},
	"POST /console/t/{tenant}/service-accounts/{id}/keys":              {form: keyForm},
	"POST /console/t/{tenant}/service-accounts/{id}/keys/{key}/rotate": {form: overlapForm},
	"POST /console/t/{tenant}/service-accounts/{id}/keys/{key}/revoke": {},
	"POST /console/t/{tenant}/service-accounts/{id}/disable":           {},
	"GET /console/t/{tenant}/reports":                                  {},
	"GET /console/t/{tenant}/reports/{report}":                         {},
	"GET /console/t/{tenant}/exports":                                  {},
	"POST /console/t/{tenant}/exports":                                 {form: sinkForm, nameOnly: true},
	"POST /console/t/{tenant}/exports/{id}/retry":                      {},
	"POST /console/t/{tenant}/exports/{id}/rotate":                     {},
	"POST /console/t/{tenant}/exports/{id}/delete":                     {},
	"GET /console/t/{tenant}/settings":                                 {},
	"POST /console/t/{tenant}/settings":                                {form: settingsForm, nameOnly: true},
	"POST /console/t/{tenant}/settings/retention":                      {form: retentionForm, nameOnly: true},
	"GET /console/t/{tenant}/schemas":                                  {},
	"POST /console/t/{tenant}/schemas":                                 {form: schemaForm, nameOnly: true},
}

// settingsForm, retentionForm and schemaForm name no resource of the tenant: the pages
// change the tenant's own configuration.
func settingsForm(ref string) url.Values {
	return url.Values{"dialect": {"strict"}, "password_policy": {"reject"}, "break_glass_approval": {"second_admin"}}
}
func retentionForm(ref string) url.Values {
	return url.Values{"retention_days": {"400"}, "legal_hold": {"on"}}
}
func schemaForm(ref string) url.Values {
	return url.Values{"definition": {`{"id":"urn:example:iso:` + strings.ReplaceAll(ref, "-", "") + `","resourceType":"User","attributes":[{"name":"iso","type":"string"}]}`}}
}

func serviceAccountForm(ref string) url.Values {
	return url.Values{"name": {"iso"}, "owner": {ref}}
}
func keyForm(ref string) url.Values     { return url.Values{"expires": {"30d"}} }
func overlapForm(ref string) url.Values { return url.Values{"overlap": {"1h"}} }

// sinkForm names ref only in the receiver's path: a sink names no resource of the tenant.
func sinkForm(ref string) url.Values {
	return url.Values{"type": {"webhook"}, "url": {"https://127.0.0.1:9/" + ref}, "format": {"native"}}
}

// consoleSession is a browser signed in to the console with a token.
type consoleSession struct {
	e *env
	c *http.Client
}

func (e *env) consoleSignIn(secret string) consoleSession {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	s := consoleSession{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if r := s.send("POST", "/console/signin", url.Values{"token": {secret}}); r.status != http.StatusSeeOther {
		e.t.Fatalf("console sign-in: status %d: %s", r.status, r.body)
	}
	return s
}

// send makes a same-origin browser request (a form POST when form is not nil).
func (s consoleSession) send(method, path string, form url.Values) resp {
	s.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(s.e.t.Context(), method, s.e.srv.URL+path, body)
	if err != nil {
		s.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := s.c.Do(req)
	if err != nil {
		s.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// consoleRef is the id a console route's {id} names in the victim's tenant.
func consoleRef(pattern string, v victim) string {
	switch {
	case strings.Contains(pattern, "/users/"), strings.Contains(pattern, "/grants"), strings.Contains(pattern, "/break-glass"):
		return v.userID
	case strings.Contains(pattern, "/tokens/"):
		return v.tokenID
	default:
		return v.groupID
	}
}

// consoleRequest turns a console pattern into a path for tenant, with ref in {id} and in
// the form, and "iso-role" in {role}.
func consoleRequest(pattern, tenant, ref string) (method, path string, form url.Values) {
	methods, p := splitPattern(pattern)
	p = strings.TrimSuffix(p, "{$}")
	p = strings.NewReplacer("{tenant}", tenant, "{id}", ref, "{key}", ref, "{role}", "iso-role", "{report}", "credentials?format=csv").Replace(p)
	if row := consoleMatrix[pattern]; row.form != nil {
		form = row.form(ref)
	} else if methods[0] == "POST" {
		form = url.Values{}
	}
	return methods[0], p, form
}

var consoleNoise = regexp.MustCompile(`Request id: <code>[^<]*</code>|nonce-[A-Za-z0-9+/=_-]+|nonce="[^"]*"|csrf[^"]*"[^"]*"`)

// consoleShape is a console response with the names that differ between two attempts
// replaced, so a foreign and a random attempt can be compared.
func consoleShape(r resp, names map[string]string) string {
	s := string(r.body) + "\nLocation: " + r.header.Get("Location") + "\nContent-Type: " + r.header.Get("Content-Type")
	for from, to := range names {
		s = strings.ReplaceAll(s, from, to)
	}
	return http.StatusText(r.status) + "\n" + consoleNoise.ReplaceAllString(s, "NOISE")
}

// TestConsoleIsolation drives every console page with an admin session of acme: a page of
// globex (the victim) gets the same response as a page of a tenant that does not exist, and
// a page of acme naming globex's users, groups and tokens (in the path and in forms) the
// same response as one naming random ids; no response carries the victim's names and the
// victim's state and log do not change. An auditor session of acme then tries every
// console action on its own tenant's resources, and nothing in acme changes either.
func TestConsoleIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		v := victim{userName: "victim-" + randomHex(4) + "@globex.example", groupName: "Victims " + randomHex(4)}
		v.userID, _ = e.must(e.do("POST", "/scim/v2/globex/Users", e.scim["globex"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": v.userName}), 201).json()["id"].(string)
		v.groupID, _ = e.must(e.do("POST", "/scim/v2/globex/Groups", e.scim["globex"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": v.groupName, "members": []map[string]any{{"value": v.userID}}}), 201).json()["id"].(string)
		v.tokenID, _ = e.must(e.do("POST", "/api/v1/tenants/globex/tokens", e.operator, map[string]any{"kind": "admin", "name": "victim-admin"}), 201).json()["id"].(string)
		own := victim{}
		own.userID, _ = e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "own@acme.example"}), 201).json()["id"].(string)
		own.groupID, _ = e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Own", "members": []map[string]any{{"value": own.userID}}}), 201).json()["id"].(string)
		own.tokenID, _ = e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "scim", "name": "own-scim"}), 201).json()["id"].(string)

		// A role that an admin could grant and map, so the auditor's attempts would succeed
		// if they were let through.
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "iso-role", "name": "Iso"}), 201)
		victimBefore := e.snapshot("globex")
		admin := e.consoleSignIn(e.issue("acme", "admin"))
		cells := 0
		for pattern, row := range consoleMatrix {
			if row.noTenant {
				if strings.HasPrefix(pattern, "GET ") {
					admin.send(consoleRequest(pattern, "acme", "x"))
				}
				continue
			}
			ref := consoleRef(pattern, v)
			random := "00000000-0000-4000-8000-" + randomHex(6)
			randomTenant := "nosuch" + randomHex(4)
			names := map[string]string{"globex": "TENANT", randomTenant: "TENANT", ref: "REF", random: "REF"}
			compare := func(what string, foreign, other resp) {
				t.Helper()
				cells++
				if f, o := consoleShape(foreign, names), consoleShape(other, names); f != o {
					i := 0
					for i < min(len(f), len(o)) && f[i] == o[i] {
						i++
					}
					from := max(0, i-200)
					t.Errorf("%s [%s]: the victim's ids got a different response than random ones; first difference:\n  foreign: %d …%.400s\n  random:  %d …%.400s", pattern, what, foreign.status, f[from:], other.status, o[from:])
				}
				for _, secret := range []string{v.userName, v.groupName, "victim-admin"} {
					if strings.Contains(string(foreign.body), secret) {
						t.Errorf("%s [%s]: the response names the victim's %q", pattern, what, secret)
					}
				}
			}
			// The victim's tenant in the path (with its ids) against a tenant that does not
			// exist (with random ids).
			compare("foreign tenant", admin.send(consoleRequest(pattern, "globex", ref)), admin.send(consoleRequest(pattern, randomTenant, random)))
			// One's own tenant naming the victim's ids against naming random ids.
			if strings.Contains(pattern, "{id}") || (row.form != nil && !row.nameOnly) {
				compare("foreign id", admin.send(consoleRequest(pattern, "acme", ref)), admin.send(consoleRequest(pattern, "acme", random)))
			}
		}
		if after := e.snapshot("globex"); after != victimBefore {
			t.Errorf("the victim's state or log changed through acme's admin console session:\nbefore %s\nafter %s", victimBefore, after)
		}

		// An auditor session changes nothing, whatever it posts about its own tenant.
		auditor := e.consoleSignIn(e.issue("acme", "auditor"))
		ownBefore := e.snapshot("acme")
		for pattern := range consoleMatrix {
			if strings.HasPrefix(pattern, "POST /console/sign") {
				continue
			}
			// The test server has no signing key, so the checkpoint page cannot sign one.
			if r := auditor.send(consoleRequest(pattern, "acme", consoleRef(pattern, own))); r.status >= 500 && !strings.HasSuffix(pattern, "/audit/checkpoint") {
				t.Errorf("auditor %s: status %d: %.300s", pattern, r.status, r.body)
			}
			cells++
		}
		if r := auditor.send("POST", "/console/signout", url.Values{}); r.status >= 400 {
			t.Errorf("auditor sign-out: status %d", r.status)
		}
		if after := e.snapshot("acme"); after != ownBefore {
			t.Errorf("an auditor console session changed its tenant:\nbefore %s\nafter %s", ownBefore, after)
		}
		if after := e.snapshot("globex"); after != victimBefore {
			t.Errorf("the victim's state or log changed during the auditor's session")
		}
		t.Logf("%d console cells", cells)
	})
}
