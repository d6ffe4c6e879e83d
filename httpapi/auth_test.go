package httpapi_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// tenantRoutes is every route of one tenant, with {t} for the tenant; cross-tenant checks
// range over all of them.
var tenantRoutes = []struct {
	method, path string
	body         any
}{
	{"POST", "/scim/v2/{t}/Users", map[string]any{"userName": "x"}},
	{"GET", "/scim/v2/{t}/Users", nil},
	{"POST", "/scim/v2/{t}/Users/.search", map[string]any{}},
	{"GET", "/scim/v2/{t}/Users/u1", nil},
	{"PUT", "/scim/v2/{t}/Users/u1", map[string]any{"userName": "x"}},
	{"PATCH", "/scim/v2/{t}/Users/u1", map[string]any{"Operations": []any{}}},
	{"DELETE", "/scim/v2/{t}/Users/u1", nil},
	{"POST", "/scim/v2/{t}/Groups", map[string]any{"displayName": "x"}},
	{"GET", "/scim/v2/{t}/Groups", nil},
	{"POST", "/scim/v2/{t}/Groups/.search", map[string]any{}},
	{"GET", "/scim/v2/{t}/Groups/g1", nil},
	{"PUT", "/scim/v2/{t}/Groups/g1", map[string]any{"displayName": "x"}},
	{"PATCH", "/scim/v2/{t}/Groups/g1", map[string]any{"Operations": []any{}}},
	{"DELETE", "/scim/v2/{t}/Groups/g1", nil},
	{"GET", "/scim/v2/{t}/ServiceProviderConfig", nil},
	{"GET", "/scim/v2/{t}/ResourceTypes", nil},
	{"GET", "/scim/v2/{t}/ResourceTypes/User", nil},
	{"GET", "/scim/v2/{t}/Schemas", nil},
	{"GET", "/scim/v2/{t}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil},
	{"GET", "/api/v1/tenants/{t}", nil},
	{"POST", "/api/v1/tenants/{t}/tokens", map[string]any{"kind": "scim", "name": "x"}},
	{"GET", "/api/v1/tenants/{t}/tokens", nil},
	{"DELETE", "/api/v1/tenants/{t}/tokens/k1", nil},
	{"POST", "/api/v1/tenants/{t}/tokens/k1/rotate", nil},
	{"GET", "/api/v1/tenants/{t}/audit", nil},
}

func TestAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		check := func(t *testing.T, r resp) {
			t.Helper()
			if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate %q, want Bearer", got)
			}
		}
		t.Run("MissingToken", func(t *testing.T) {
			r := e.do("GET", "/scim/v2/acme/Users", "", nil)
			scimError(t, r, 401, "")
			check(t, r)
			r = e.do("GET", "/api/v1/tenants", "", nil)
			apiError(t, r, 401, "unauthorized")
			check(t, r)
		})
		t.Run("NotBearer", func(t *testing.T) {
			r := e.do("GET", "/scim/v2/acme/Users", "", nil, "Authorization", "Basic "+e.scim["acme"])
			scimError(t, r, 401, "")
		})
		t.Run("UnknownToken", func(t *testing.T) {
			r := e.do("GET", "/scim/v2/acme/Users", "stk_scim_notarealtoken", nil)
			scimError(t, r, 401, "")
			check(t, r)
			apiError(t, e.do("GET", "/api/v1/tenants/acme", "stk_admin_nope", nil), 401, "unauthorized")
		})
		t.Run("RevokedTokenFailsOnTheNextRequest", func(t *testing.T) {
			secret := e.issue("acme", "scim")
			e.must(e.do("GET", "/scim/v2/acme/Users", secret, nil), 200)
			list := e.must(e.do("GET", "/api/v1/tenants/acme/tokens", e.operator, nil), 200).json()
			var id string
			for _, tok := range list["tokens"].([]any) {
				m := tok.(map[string]any)
				if _, ok := m["token"]; ok {
					t.Errorf("token list shows a secret: %v", m)
				}
				id = m["id"].(string) // the newest is last
			}
			e.must(e.do("DELETE", "/api/v1/tenants/acme/tokens/"+id, e.operator, nil), 204)
			scimError(t, e.do("GET", "/scim/v2/acme/Users", secret, nil), 401, "")
		})
		t.Run("ExpiredTokenFailsOnTheNextRequest", func(t *testing.T) {
			r := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "scim", "name": "short", "expires_in": "1h"}), 201)
			secret := r.json()["token"].(string)
			e.must(e.do("GET", "/scim/v2/acme/Users", secret, nil), 200)
			e.clock.Advance(time.Hour + time.Second)
			scimError(t, e.do("GET", "/scim/v2/acme/Users", secret, nil), 401, "")
		})
		t.Run("HealthNeedsNoToken", func(t *testing.T) {
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				e.must(e.do("GET", p, "", nil), 200)
			}
		})
	})
}

func TestAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		admin := e.issue("acme", "admin")
		auditor := e.issue("acme", "auditor")
		app := e.issue("acme", "app")
		scim := e.scim["acme"]
		for _, c := range []struct {
			name, token, method, path string
			body                      any
			want                      int
		}{
			{"SCIMReadsSCIM", scim, "GET", "/scim/v2/acme/Users", nil, 200},
			{"SCIMNotTokens", scim, "GET", "/api/v1/tenants/acme/tokens", nil, 403},
			{"SCIMNotAudit", scim, "GET", "/api/v1/tenants/acme/audit", nil, 403},
			{"AdminListsTokens", admin, "GET", "/api/v1/tenants/acme/tokens", nil, 200},
			{"AdminIssuesSCIMTokens", admin, "POST", "/api/v1/tenants/acme/tokens", map[string]any{"kind": "scim", "name": "idp"}, 201},
			{"AdminNotOperatorTokens", admin, "POST", "/api/v1/tenants/acme/tokens", map[string]any{"kind": "operator", "name": "root"}, 403},
			{"AdminReadsAudit", admin, "GET", "/api/v1/tenants/acme/audit", nil, 200},
			{"AdminNotCreateTenant", admin, "POST", "/api/v1/tenants", map[string]any{"id": "new", "name": "New"}, 403},
			{"AdminNotListTenants", admin, "GET", "/api/v1/tenants", nil, 403},
			{"AdminNotSCIM", admin, "GET", "/scim/v2/acme/Users", nil, 403},
			{"AuditorReadsAudit", auditor, "GET", "/api/v1/tenants/acme/audit", nil, 200},
			{"AuditorNotTokens", auditor, "GET", "/api/v1/tenants/acme/tokens", nil, 403},
			{"AuditorNotSCIM", auditor, "GET", "/scim/v2/acme/Users", nil, 403},
			{"AppNothing", app, "GET", "/scim/v2/acme/Users", nil, 403},
			{"AppNotAudit", app, "GET", "/api/v1/tenants/acme/audit", nil, 403},
			{"OperatorSCIM", e.operator, "GET", "/scim/v2/acme/Users", nil, 200},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(c.method, c.path, c.token, c.body)
				if r.status != c.want {
					t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
				}
			})
		}
	})
}

// TestCrossTenantIsNotFound checks that a token of another tenant, on every tenant route,
// gets exactly what a tenant that does not exist gets, so no response hints that the
// tenant exists.
func TestCrossTenantIsNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tokens := map[string]string{
			"scim":    e.scim["globex"],
			"admin":   e.issue("globex", "admin"),
			"auditor": e.issue("globex", "auditor"),
		}
		for _, rt := range tenantRoutes {
			for kind, tok := range tokens {
				t.Run(kind+" "+rt.method+" "+rt.path, func(t *testing.T) {
					cross := e.do(rt.method, strings.ReplaceAll(rt.path, "{t}", "acme"), tok, rt.body)
					missing := e.do(rt.method, strings.ReplaceAll(rt.path, "{t}", "nosuch"), e.operator, rt.body)
					if cross.status != 404 || missing.status != 404 {
						t.Fatalf("status %d for another tenant, %d for a missing tenant; want 404 both\n%s\n%s", cross.status, missing.status, cross.body, missing.body)
					}
					// The path is in the message; with it swapped the bodies must be equal.
					if got, want := bytes.ReplaceAll(cross.body, []byte("acme"), []byte("nosuch")), missing.body; !bytes.Equal(got, want) {
						t.Errorf("bodies differ:\nanother tenant: %s\nmissing tenant: %s", got, want)
					}
					if cross.header.Get("Content-Type") != missing.header.Get("Content-Type") {
						t.Errorf("Content-Type %q vs %q", cross.header.Get("Content-Type"), missing.header.Get("Content-Type"))
					}
					if strings.HasPrefix(rt.path, "/scim/") {
						scimError(t, cross, 404, "")
					} else {
						apiError(t, cross, 404, "not_found")
					}
				})
			}
		}
		t.Run("SameAsMissingResource", func(t *testing.T) {
			own := e.do("GET", "/scim/v2/acme/Users/u1", e.scim["acme"], nil)
			cross := e.do("GET", "/scim/v2/acme/Users/u1", e.scim["globex"], nil)
			if own.status != 404 || !bytes.Equal(own.body, cross.body) {
				t.Errorf("missing resource %d %s; another tenant's %d %s", own.status, own.body, cross.status, cross.body)
			}
		})
		t.Run("NothingWritten", func(t *testing.T) {
			r := e.must(e.do("GET", "/scim/v2/acme/Users", e.scim["acme"], nil), 200)
			if got := r.json()["totalResults"]; got != 0.0 {
				t.Errorf("acme has %v users after cross-tenant writes, want 0", got)
			}
		})
	})
}

// TestGetUserReadWithToken covers GET /Users/{id}, whose user is read in the same
// statement as the token: the user is answered only after the token is authorized, so an
// existing user of another tenant is the same 404 as a missing one, a token kind without
// SCIM access is 403, and a revoked token is 401 on the very next request.
func TestGetUserReadWithToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		u := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "ada@example.com"}), 201).json()
		id := u["id"].(string)
		g := e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Analysts",
			"members": []any{map[string]any{"value": id}}}), 201).json()
		path := "/scim/v2/acme/Users/" + id

		got := e.must(e.do("GET", path, e.scim["acme"], nil), 200).json()
		groups, _ := got["groups"].([]any)
		if got["userName"] != "ada@example.com" || len(groups) != 1 || groups[0].(map[string]any)["value"] != g["id"] {
			t.Errorf("GET %s: userName %v, groups %v; want ada@example.com in group %v", path, got["userName"], got["groups"], g["id"])
		}
		e.must(e.do("GET", path, e.operator, nil), 200)
		if r := e.do("GET", path, e.issue("acme", "admin"), nil); r.status != 403 {
			t.Errorf("admin token: status %d, want 403: %s", r.status, r.body)
		}
		scimError(t, e.do("GET", "/scim/v2/acme/Users/missing", e.scim["acme"], nil), 404, "")

		cross := e.do("GET", path, e.scim["globex"], nil)
		missing := e.do("GET", "/scim/v2/acme/Users/missing", e.scim["globex"], nil)
		scimError(t, cross, 404, "")
		if got, want := bytes.ReplaceAll(cross.body, []byte(id), []byte("missing")), missing.body; !bytes.Equal(got, want) {
			t.Errorf("another tenant's existing user and a missing one differ:\n%s\n%s", cross.body, missing.body)
		}
		if bytes.Contains(cross.body, []byte("ada")) {
			t.Errorf("another tenant's token sees the user: %s", cross.body)
		}

		secret := e.issue("acme", "scim")
		e.must(e.do("GET", path, secret, nil), 200)
		var tokID string
		for _, tok := range e.must(e.do("GET", "/api/v1/tenants/acme/tokens", e.operator, nil), 200).json()["tokens"].([]any) {
			tokID = tok.(map[string]any)["id"].(string) // the newest is last
		}
		e.must(e.do("DELETE", "/api/v1/tenants/acme/tokens/"+tokID, e.operator, nil), 204)
		scimError(t, e.do("GET", path, secret, nil), 401, "")
		scimError(t, e.do("GET", path, "stk_scim_notarealtoken", nil), 401, "")
	})
}
