package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// lastEntry returns the tenant's newest audit entry.
func (e *env) lastEntry(tenant string) map[string]any {
	e.t.Helper()
	r := e.must(e.do("GET", "/api/v1/tenants/"+tenant+"/audit?limit=1000", e.operator, nil), 200)
	var body struct {
		Entries []struct {
			Entry map[string]any `json:"entry"`
		} `json:"entries"`
	}
	json.Unmarshal(r.body, &body)
	if len(body.Entries) == 0 {
		e.t.Fatal("no audit entries")
	}
	return body.Entries[len(body.Entries)-1].Entry
}

const userURN = "urn:ietf:params:scim:schemas:core:2.0:User"

// TestTenantSettings: admins read and change the dialect and password policy, auditors only
// read, bad values change nothing, each change is one tenant.settings_changed entry, and the
// password policy applies on the very next SCIM request.
func TestTenantSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		admin, auditor := e.issue("acme", "admin"), e.issue("acme", "auditor")
		r := e.must(e.do("GET", "/api/v1/tenants/acme/settings", auditor, nil), 200)
		if m := r.json(); m["dialect"] != "auto" || m["password_policy"] != "discard" {
			t.Fatalf("default settings %s", r.body)
		}
		apiError(t, e.do("PATCH", "/api/v1/tenants/acme/settings", auditor, map[string]any{"dialect": "strict"}), 403, "forbidden")
		apiError(t, e.do("PATCH", "/api/v1/tenants/globex/settings", admin, map[string]any{"dialect": "strict"}), 404, "not_found")
		before := len(e.auditSeqs("acme"))
		for _, bad := range []map[string]any{{"dialect": "azure"}, {"password_policy": "hash"}, {"dialect": ""}, {"colour": "red"}} {
			apiError(t, e.do("PATCH", "/api/v1/tenants/acme/settings", admin, bad), 400, "invalid")
		}
		if got := len(e.auditSeqs("acme")); got != before {
			t.Fatalf("rejected settings wrote %d entries", got-before)
		}

		user := map[string]any{"schemas": []string{userURN}, "userName": "pat", "password": "hunter2!"}
		e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], user), 201)
		r = e.must(e.do("PATCH", "/api/v1/tenants/acme/settings", admin, map[string]any{"password_policy": "reject", "dialect": "strict"}), 200)
		if m := r.json(); m["dialect"] != "strict" || m["password_policy"] != "reject" {
			t.Fatalf("PATCH settings answered %s", r.body)
		}
		en := e.lastEntry("acme")
		if en["action"] != "tenant.settings_changed" {
			t.Fatalf("last entry %v", en)
		}
		changes, _ := json.Marshal(en["changes"])
		if want := `[{"new":"strict","old":"auto","path":"dialect"},{"new":"reject","old":"discard","path":"password_policy"}]`; string(changes) != want {
			t.Errorf("changes %s, want %s", changes, want)
		}
		// The very next request sees the policy (same replica: no TTL wait).
		user["userName"] = "quinn"
		scimError(t, e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], user), 400, "invalidValue")
		r = e.must(e.do("GET", "/scim/v2/acme/Users?filter="+url.QueryEscape(`userName eq "quinn"`), e.scim["acme"], nil), 200)
		if r.json()["totalResults"] != float64(0) {
			t.Fatalf("a rejected user was created: %s", r.body)
		}
		id := e.must(e.do("GET", "/scim/v2/acme/Users?filter="+url.QueryEscape(`userName eq "pat"`), e.scim["acme"], nil), 200).json()["Resources"].([]any)[0].(map[string]any)["id"].(string)
		scimError(t, e.do("PATCH", "/scim/v2/acme/Users/"+id, e.scim["acme"], map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "password", "value": "x"}}}), 400, "invalidValue")
		// globex is unaffected.
		user["userName"] = "quinn"
		e.must(e.do("POST", "/scim/v2/globex/Users", e.scim["globex"], user), 201)

		// strict: Entra's capitalised op is not rewritten any more, so it is invalid SCIM.
		entra := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "Replace", "path": "active", "value": "False"}}}
		if r := e.do("PATCH", "/scim/v2/acme/Users/"+id, e.scim["acme"], entra); r.status != 400 {
			t.Errorf("strict dialect accepted an Entra-shaped PATCH: %d %s", r.status, r.body)
		}
		e.must(e.do("PATCH", "/api/v1/tenants/acme/settings", admin, map[string]any{"dialect": "entra"}), 200)
		r = e.must(e.do("PATCH", "/scim/v2/acme/Users/"+id, e.scim["acme"], entra), 200)
		if r.json()["active"] != false {
			t.Errorf("entra dialect: active %v after Replace False", r.json()["active"])
		}
		// A PATCH that changes nothing writes nothing.
		n := len(e.auditSeqs("acme"))
		e.must(e.do("PATCH", "/api/v1/tenants/acme/settings", admin, map[string]any{"dialect": "entra"}), 200)
		if got := len(e.auditSeqs("acme")); got != n {
			t.Errorf("an unchanged setting wrote %d entries", got-n)
		}
	})
}

const extURN = "urn:example:params:scim:schemas:extension:acme:2.0:User"

func extensionDef() map[string]any {
	return map[string]any{
		"id": extURN, "name": "AcmeUser", "description": "Acme's own user attributes", "resourceType": "User",
		"attributes": []any{
			map[string]any{"name": "costCenter", "type": "string", "required": true},
			map[string]any{"name": "badge", "type": "integer", "uniqueness": "server"},
			map[string]any{"name": "tier", "type": "string", "canonicalValues": []string{"gold", "silver"}},
			map[string]any{"name": "secretCode", "type": "string", "mutability": "writeOnly", "returned": "never"},
			map[string]any{"name": "ids", "type": "complex", "multiValued": true, "subAttributes": []any{
				map[string]any{"name": "system", "type": "string"},
				map[string]any{"name": "value", "type": "string", "caseExact": true},
			}},
		},
	}
}

// TestCustomSchema: a tenant admin registers an extension; it shows in the tenant's
// discovery only, is validated, filterable, sortable and patchable; registration and
// deletion are ledger entries; bad definitions and collisions change nothing; a schema in use
// cannot be deleted.
func TestCustomSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		admin, auditor := e.issue("acme", "admin"), e.issue("acme", "auditor")
		before := len(e.auditSeqs("acme"))
		bad := []map[string]any{
			{"id": "urn:ietf:params:scim:schemas:core:2.0:User", "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "string"}}},
			{"id": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "string"}}},
			{"id": "not a urn", "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "string"}}},
			{"id": extURN, "resourceType": "Device", "attributes": []any{map[string]any{"name": "x", "type": "string"}}},
			{"id": extURN, "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "colour"}}},
			{"id": extURN, "resourceType": "User", "attributes": []any{map[string]any{"name": "1x", "type": "string"}}},
			{"id": extURN, "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "string"}, map[string]any{"name": "X", "type": "string"}}},
			{"id": extURN, "resourceType": "User", "attributes": []any{map[string]any{"name": "x", "type": "string", "mutabilty": "readOnly"}}},
			{"id": extURN, "resourceType": "User", "attributes": []any{}},
		}
		for _, b := range bad {
			r := e.do("POST", "/api/v1/tenants/acme/schemas", admin, b)
			if r.status != 400 && r.status != 409 {
				t.Errorf("bad definition %v: %d %s", b, r.status, r.body)
			}
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/schemas", auditor, extensionDef()), 403, "forbidden")
		if got := len(e.auditSeqs("acme")); got != before {
			t.Fatalf("rejected definitions wrote %d entries", got-before)
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/schemas", admin, extensionDef()), 201)
		if en := e.lastEntry("acme"); en["action"] != "schema.registered" || en["target"].(map[string]any)["id"] != extURN {
			t.Errorf("registration entry %v", en)
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/schemas", admin, extensionDef()), 409, "conflict")
		if r := e.must(e.do("GET", "/api/v1/tenants/acme/schemas", auditor, nil), 200); !strings.Contains(string(r.body), `"uniqueness":"server"`) {
			t.Errorf("listed schemas lack characteristics: %s", r.body)
		}

		tok := e.scim["acme"]
		r := e.must(e.do("GET", "/scim/v2/acme/Schemas/"+extURN, tok, nil), 200)
		if !strings.Contains(string(r.body), `"costCenter"`) || !strings.Contains(string(r.body), `"canonicalValues":["gold","silver"]`) {
			t.Errorf("/Schemas/{urn}: %s", r.body)
		}
		r = e.must(e.do("GET", "/scim/v2/acme/ResourceTypes/User", tok, nil), 200)
		if !strings.Contains(string(r.body), `{"required":false,"schema":"`+extURN+`"}`) {
			t.Errorf("User resource type lacks the extension: %s", r.body)
		}
		if r := e.must(e.do("GET", "/scim/v2/globex/Schemas", e.scim["globex"], nil), 200); strings.Contains(string(r.body), extURN) {
			t.Error("another tenant sees acme's extension")
		}

		user := func(name string, ext map[string]any) map[string]any {
			return map[string]any{"schemas": []string{userURN, extURN}, "userName": name, extURN: ext}
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("a", map[string]any{"badge": 1})), 400, "invalidValue")                          // costCenter required
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("a", map[string]any{"costCenter": "X", "badge": "one"})), 400, "invalidValue")   // type
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("a", map[string]any{"costCenter": "X", "tier": "bronze"})), 400, "invalidValue") // canonical
		r = e.must(e.do("POST", "/scim/v2/acme/Users", tok, user("ann", map[string]any{"costCenter": "B-2", "badge": 7, "secretCode": "s3",
			"ids": []any{map[string]any{"system": "hr", "value": "E1"}}})), 201)
		ann := r.json()
		if got := ann[extURN].(map[string]any); got["secretCode"] != nil || got["badge"] != float64(7) {
			t.Errorf("created user's extension %v: writeOnly must not be returned", got)
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("bob", map[string]any{"costCenter": "A-1", "badge": 7})), 409, "uniqueness")
		e.must(e.do("POST", "/scim/v2/acme/Users", tok, user("bob", map[string]any{"costCenter": "A-1", "badge": 8})), 201)
		e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userURN}, "userName": "cy"}), 201)

		list := func(q string) []string {
			r := e.must(e.do("GET", "/scim/v2/acme/Users?"+q, tok, nil), 200)
			var names []string
			for _, x := range r.json()["Resources"].([]any) {
				names = append(names, x.(map[string]any)["userName"].(string))
			}
			return names
		}
		if got := list("filter=" + url.QueryEscape(extURN+`:costCenter eq "b-2"`)); strings.Join(got, ",") != "ann" {
			t.Errorf("filter on costCenter: %v", got)
		}
		if got := list("filter=" + url.QueryEscape(extURN+`:ids[value eq "E1"]`)); strings.Join(got, ",") != "ann" {
			t.Errorf("value-path filter: %v", got)
		}
		if got := list("sortBy=" + url.QueryEscape(extURN+":costCenter")); strings.Join(got, ",") != "bob,ann,cy" {
			t.Errorf("sortBy costCenter: %v, want bob,ann,cy (unassigned last)", got)
		}

		patch := func(ops ...any) resp {
			return e.do("PATCH", "/scim/v2/acme/Users/"+ann["id"].(string), tok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
		}
		r = e.must(patch(map[string]any{"op": "replace", "path": extURN + ":tier", "value": "gold"}), 200)
		if r.json()[extURN].(map[string]any)["tier"] != "gold" {
			t.Errorf("patched tier: %s", r.body)
		}
		scimError(t, patch(map[string]any{"op": "replace", "path": extURN + ":tier", "value": "tin"}), 400, "invalidValue")
		scimError(t, patch(map[string]any{"op": "replace", "path": extURN + ":badge", "value": 8}), 409, "uniqueness")
		// Moving ann to badge 9 frees 7 (uniqueness is kept as an index, not a scan); keeping
		// one's own value is no conflict.
		e.must(patch(map[string]any{"op": "replace", "path": extURN + ":badge", "value": 9}), 200)
		e.must(patch(map[string]any{"op": "replace", "path": extURN + ":badge", "value": 9}), 200)
		dan := e.must(e.do("POST", "/scim/v2/acme/Users", tok, user("dan", map[string]any{"costCenter": "C-3", "badge": 7})), 201).json()
		e.must(e.do("DELETE", "/scim/v2/acme/Users/"+dan["id"].(string), tok, nil), 204)
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("eve", map[string]any{"costCenter": "C-3", "badge": 9})), 409, "uniqueness")
		e.must(e.do("POST", "/scim/v2/acme/Users", tok, user("eve", map[string]any{"costCenter": "C-3", "badge": 7})), 201) // dan's deletion freed 7

		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/schemas/"+extURN, admin, nil), 409, "conflict")
		for _, u := range []string{"ann", "bob", "eve"} {
			id := e.must(e.do("GET", "/scim/v2/acme/Users?filter="+url.QueryEscape(`userName eq "`+u+`"`), tok, nil), 200).json()["Resources"].([]any)[0].(map[string]any)["id"].(string)
			e.must(e.do("DELETE", "/scim/v2/acme/Users/"+id, tok, nil), 204)
		}
		e.must(e.do("DELETE", "/api/v1/tenants/acme/schemas/"+extURN, admin, nil), 204)
		if en := e.lastEntry("acme"); en["action"] != "schema.deleted" {
			t.Errorf("deletion entry %v", en)
		}
		if r := e.must(e.do("GET", "/scim/v2/acme/Schemas", tok, nil), 200); strings.Contains(string(r.body), extURN) {
			t.Error("a deleted extension is still in /Schemas")
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, user("dee", map[string]any{"costCenter": "X"})), 400, "invalidValue")
		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/schemas/"+extURN, admin, nil), 404, "not_found")
	})
}
