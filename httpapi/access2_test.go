package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// user creates a SCIM user in acme and returns its id.
func (e *env) user(name string) string {
	e.t.Helper()
	r := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{
		"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}), 201)
	return r.json()["id"].(string)
}

// entriesOf returns the verified entries of acme with the action, in seq order.
func (e *env) entriesOf(action string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, en := range e.verifiedEntries("acme") {
		if en["action"] == action {
			out = append(out, en)
		}
	}
	return out
}

func (e *env) auditSize() int {
	e.t.Helper()
	return len(e.verifiedEntries("acme"))
}

func TestAppGrantsInEffectiveAccess(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		uid := e.user("alice@example.com")
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "billing_admin", "name": "Billing admin"}), 201)
		ev := func(action, role string) map[string]any {
			m := appEvent(action, nil)
			m["targets"] = []any{map[string]any{"type": "Role", "id": role}, map[string]any{"type": "User", "id": uid}}
			return m
		}

		// An unknown role is refused, naming the field, and changes nothing.
		before := e.auditSize()
		r := e.do("POST", "/api/v1/tenants/acme/events", app, ev("app.role_granted", "no_such_role"))
		apiError(t, r, 400, "invalid")
		if !strings.Contains(string(r.body), "targets") || !strings.Contains(string(r.body), "no_such_role") {
			t.Errorf("message %s does not name the field and role", r.body)
		}
		if got := e.auditSize(); got != before {
			t.Fatalf("a refused event appended %d entries", got-before)
		}

		seq := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev("app.role_granted", "billing_admin")), 201).json()["seq"].(float64)
		acc := e.must(e.do("GET", "/api/v1/tenants/acme/users/"+uid+"/access", e.operator, nil), 200)
		want := fmt.Sprintf(`"paths":[{"kind":"app_grant","via":[],"grant":"%d","by":"app-user-7"}]`, int(seq))
		if !strings.Contains(string(acc.body), `"role":"billing_admin"`) || !strings.Contains(string(acc.body), want) {
			t.Fatalf("access %s, want an app_grant path %s", acc.body, want)
		}
		granted := e.entriesOf("access.granted")
		if len(granted) != 1 || granted[0]["cause"] != seq {
			t.Fatalf("access.granted entries %v, want one caused by %v", granted, seq)
		}

		// Deactivation removes it like every other path; reactivation brings it back.
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+uid, e.scim["acme"], map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}), 200)
		acc = e.must(e.do("GET", "/api/v1/tenants/acme/users/"+uid+"/access", e.operator, nil), 200)
		if strings.Contains(string(acc.body), "billing_admin") {
			t.Fatalf("deactivated user still holds %s", acc.body)
		}
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+uid, e.scim["acme"], map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": true}}}), 200)

		rseq := e.must(e.do("POST", "/api/v1/tenants/acme/events", app, ev("app.role_revoked", "billing_admin")), 201).json()["seq"].(float64)
		acc = e.must(e.do("GET", "/api/v1/tenants/acme/users/"+uid+"/access", e.operator, nil), 200)
		if strings.Contains(string(acc.body), "billing_admin") {
			t.Fatalf("revoked app grant still held: %s", acc.body)
		}
		revoked := e.entriesOf("access.revoked")
		if last := revoked[len(revoked)-1]; last["cause"] != rseq {
			t.Errorf("last access.revoked cause %v, want %v", last["cause"], rseq)
		}
	})
}

func TestServiceAccountsAndKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		app := e.issue("acme", "app")
		owner := e.user("owner@example.com")
		base := "/api/v1/tenants/acme/service-accounts"

		before := e.auditSize()
		apiError(t, e.do("POST", base, e.operator, map[string]any{"name": "ci-bot", "owner_id": "nobody"}), 400, "invalid")
		apiError(t, e.do("POST", base, e.operator, map[string]any{"name": "ci-bot"}), 400, "invalid")
		apiError(t, e.do("POST", base, e.operator, map[string]any{"owner_id": owner}), 400, "invalid")
		if got := e.auditSize(); got != before {
			t.Fatalf("refused creates appended %d entries", got-before)
		}
		sa := e.must(e.do("POST", base, e.operator, map[string]any{"name": "ci-bot", "owner_id": owner}), 201).json()
		id := sa["id"].(string)
		// Service accounts are not visible to another tenant.
		apiError(t, e.do("GET", "/api/v1/tenants/globex/service-accounts/"+id, e.operator, nil), 404, "not_found")

		k1 := e.must(e.do("POST", base+"/"+id+"/keys", e.operator, map[string]any{"expires_in": "30d"}), 201).json()
		secret1, kid1 := k1["key"].(string), k1["id"].(string)
		if !strings.HasPrefix(secret1, "stk_nhi_") || len(secret1) < 50 {
			t.Fatalf("key %q lacks the stk_nhi_ prefix or 256 bits", secret1)
		}
		verify := func(secret string) map[string]any {
			return e.must(e.do("POST", base+"/verify", app, map[string]any{"key": secret}), 200).json()
		}
		if v := verify(secret1); v["valid"] != true || v["service_account_id"] != id || v["key_id"] != kid1 {
			t.Fatalf("verify %v", v)
		}
		if v := verify(secret1 + "x"); v["valid"] != false || v["key_id"] != nil {
			t.Fatalf("a wrong key verified: %v", v)
		}
		got := e.must(e.do("GET", base+"/"+id, e.operator, nil), 200)
		if !strings.Contains(string(got.body), `"last_used"`) || strings.Contains(string(got.body), secret1) {
			t.Fatalf("account %s: want last_used and no secret", got.body)
		}
		if strings.Contains(e.logs.String(), secret1) {
			t.Fatal("a key secret was logged")
		}

		// Rotation: the old key works until the overlap ends, the new one at once.
		k2 := e.must(e.do("POST", base+"/"+id+"/keys/"+kid1+"/rotate", e.operator, map[string]any{"overlap": "1h"}), 201).json()
		secret2, kid2 := k2["key"].(string), k2["id"].(string)
		if verify(secret1)["valid"] != true || verify(secret2)["valid"] != true {
			t.Fatal("both keys must work during the overlap")
		}
		apiError(t, e.do("POST", base+"/"+id+"/keys/"+kid1+"/rotate", e.operator, nil), 409, "conflict")
		e.clock.Advance(61 * time.Minute)
		if verify(secret1)["valid"] != false {
			t.Fatal("the rotated key still works after the overlap")
		}
		if verify(secret2)["valid"] != true {
			t.Fatal("the new key does not work")
		}
		e.must(e.do("DELETE", base+"/"+id+"/keys/"+kid2, e.operator, nil), 204)
		if verify(secret2)["valid"] != false {
			t.Fatal("a revoked key still works")
		}

		// Max-age policy.
		apiError(t, e.do("PUT", "/api/v1/tenants/acme/policies/nhi", e.operator, map[string]any{"on_owner_deprovisioned": "explode"}), 400, "invalid")
		e.must(e.do("PUT", "/api/v1/tenants/acme/policies/nhi", e.operator, map[string]any{"max_key_age": "7d", "on_owner_deprovisioned": "revoke"}), 200)
		apiError(t, e.do("POST", base+"/"+id+"/keys", e.operator, map[string]any{"expires_in": "30d"}), 400, "invalid")
		k3 := e.must(e.do("POST", base+"/"+id+"/keys", e.operator, nil), 201).json()
		if k3["expires"] == nil {
			t.Fatalf("a key under a max-age policy has no expiry: %v", k3)
		}
		e.clock.Advance(8 * 24 * time.Hour)
		if verify(k3["key"].(string))["valid"] != false {
			t.Fatal("a key past its maximum age still works")
		}
		k4 := e.must(e.do("POST", base+"/"+id+"/keys", e.operator, map[string]any{"expires_in": "1d"}), 201).json()

		// The owner is deprovisioned through SCIM: under "revoke" the account is disabled and
		// its usable key revoked, each with an entry caused by the deactivation.
		rc := e.must(e.do("PATCH", "/scim/v2/acme/Users/"+owner, e.scim["acme"], map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}), 200)
		_ = rc
		if verify(k4["key"].(string))["valid"] != false {
			t.Fatal("a key of a disabled account still works")
		}
		deact := e.entriesOf("user.deactivated")
		cause := deact[len(deact)-1]["seq"]
		dis := e.entriesOf("service_account.disabled")
		if len(dis) != 1 || dis[0]["cause"] != cause {
			t.Fatalf("service_account.disabled %v, want one caused by %v", dis, cause)
		}
		revs := e.entriesOf("nhi.key_revoked")
		if last := revs[len(revs)-1]; last["cause"] != cause || last["target"].(map[string]any)["id"] != k4["id"] {
			t.Fatalf("last nhi.key_revoked %v, want key %v caused by %v", last, k4["id"], cause)
		}
		for _, act := range []string{"service_account.created", "nhi.key_issued", "nhi.key_rotated", "nhi.key_used", "nhi.policy_updated"} {
			if len(e.entriesOf(act)) == 0 {
				t.Errorf("no %s entry", act)
			}
		}
		// requested_at is on the deactivation entry, and the report reads it.
		rep := e.must(e.do("GET", "/api/v1/tenants/acme/reports/deprovisioning", e.operator, nil), 200)
		if !strings.Contains(string(rep.body), `"requested_at"`) || !strings.Contains(string(rep.body), owner) {
			t.Fatalf("deprovisioning report %s", rep.body)
		}
		csv := e.must(e.do("GET", "/api/v1/tenants/acme/reports/deprovisioning?format=csv", e.operator, nil), 200)
		if !strings.HasPrefix(string(csv.body), "seq,user_id,action,channel,requested_at,applied_at,latency_ms\n") {
			t.Fatalf("csv %s", csv.body)
		}
		cred := e.must(e.do("GET", "/api/v1/tenants/acme/reports/credentials", e.operator, nil), 200)
		if n := strings.Count(string(cred.body), `"kind":"nhi_key"`); n != 4 {
			t.Errorf("credential report has %d NHI keys, want 4: %s", n, cred.body)
		}
		if !strings.Contains(string(cred.body), `"kind":"scim_token"`) {
			t.Errorf("credential report lacks the SCIM token: %s", cred.body)
		}

		// Delete keeps the id from reuse and hides the account.
		e.must(e.do("DELETE", base+"/"+id, e.operator, nil), 204)
		apiError(t, e.do("GET", base+"/"+id, e.operator, nil), 404, "not_found")
		if list := e.must(e.do("GET", base, e.operator, nil), 200); !strings.Contains(string(list.body), `"service_accounts":[]`) {
			t.Errorf("list after delete %s", list.body)
		}
	})
}

func TestOwnerDeletedFlagsServiceAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		owner := e.user("owner@example.com")
		base := "/api/v1/tenants/acme/service-accounts"
		id := e.must(e.do("POST", base, e.operator, map[string]any{"name": "etl", "owner_id": owner}), 201).json()["id"].(string)
		e.must(e.do("POST", base+"/"+id+"/keys", e.operator, nil), 201)
		// Deleted through Bulk, with the default policy "flag": the account is flagged and
		// its key keeps working.
		e.must(e.do("POST", "/scim/v2/acme/Bulk", e.scim["acme"], map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
			"Operations": []any{map[string]any{"method": "DELETE", "path": "/Users/" + owner}}}), 200)
		sa := e.must(e.do("GET", base+"/"+id, e.operator, nil), 200).json()
		if sa["flag"] != "owner_deprovisioned" || sa["state"] != "active" {
			t.Fatalf("account after owner deletion %v", sa)
		}
		fl := e.entriesOf("service_account.flagged")
		del := e.entriesOf("user.deleted")
		if len(fl) != 1 || fl[0]["cause"] != del[0]["seq"] {
			t.Fatalf("flagged %v, want one caused by %v", fl, del[0]["seq"])
		}
	})
}

func TestDelegatedAdminScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, r := range []map[string]any{{"id": "viewer", "name": "Viewer"}, {"id": "owner", "name": "Owner", "privileged": true}} {
			e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, r), 201)
		}
		uid := e.user("alice@example.com")
		grp := e.must(e.do("POST", "/scim/v2/acme/Groups", e.scim["acme"], map[string]any{
			"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Owners"}), 201).json()["id"].(string)

		apiError(t, e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "admin",
			"scope": map[string]any{"grantable_roles": []any{"nope"}}}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "scim",
			"scope": map[string]any{"grantable_roles": []any{"viewer"}}}), 400, "invalid")
		scoped := e.must(e.do("POST", "/api/v1/tenants/acme/tokens", e.operator, map[string]any{"kind": "admin", "name": "helpdesk",
			"scope": map[string]any{"grantable_roles": []any{"viewer"}, "issue_tokens": false}}), 201).json()["token"].(string)
		issued := e.entriesOf("token.issued")
		if s := mustJSON(t, issued[len(issued)-1]["changes"]); !strings.Contains(s, `"grantable_roles":["viewer"]`) {
			t.Errorf("token.issued changes %s lack the scope", s)
		}

		before := e.auditSize()
		apiError(t, e.do("POST", "/api/v1/tenants/acme/grants", scoped, map[string]any{"user_id": uid, "role": "owner", "reason": "x"}), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/mappings", scoped, map[string]any{"group_id": grp, "role": "owner"}), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass", scoped, map[string]any{"user_id": uid, "role": "owner", "justification": "x", "duration": "1h"}), 403, "forbidden")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/tokens", scoped, map[string]any{"kind": "scim"}), 403, "forbidden")
		if got := e.auditSize(); got != before {
			t.Fatalf("refused requests appended %d entries", got-before)
		}

		e.must(e.do("POST", "/api/v1/tenants/acme/grants", scoped, map[string]any{"user_id": uid, "role": "viewer", "reason": "ticket 12"},
			"Scimtrail-On-Behalf-Of", "carol@example.com"), 201)
		gc := e.entriesOf("grant.created")
		actor := gc[len(gc)-1]["actor"].(map[string]any)
		if actor["on_behalf_of"] != "carol@example.com" || actor["type"] != "delegated_admin" {
			t.Errorf("grant actor %v", actor)
		}
		apiError(t, e.do("POST", "/api/v1/tenants/acme/grants", scoped, map[string]any{"user_id": uid, "role": "viewer", "reason": "x"},
			"Scimtrail-On-Behalf-Of", strings.Repeat("a", 300)), 400, "invalid")

		// The IdP's own authority: a SCIM Groups PATCH into a group mapped to a privileged
		// role (mapped by an unscoped operator) is allowed and grants the role.
		e.must(e.do("POST", "/api/v1/tenants/acme/mappings", e.operator, map[string]any{"group_id": grp, "role": "owner"}), 201)
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+grp, e.scim["acme"], map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}}}}), 200)
		acc := e.must(e.do("GET", "/api/v1/tenants/acme/users/"+uid+"/access", e.operator, nil), 200)
		if !strings.Contains(string(acc.body), `"role":"owner"`) {
			t.Errorf("group path to owner missing: %s", acc.body)
		}
	})
}
