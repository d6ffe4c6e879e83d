package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

const agentURN = "urn:ietf:params:scim:schemas:core:2.0:Agent"

func agentDoc(name, owner string) map[string]any {
	return map[string]any{"schemas": []any{agentURN}, "agentUserName": name, "owners": []any{map[string]any{"value": owner}}}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// userIn creates a user in another tenant and returns its id.
func (e *env) userIn(tenant, name string) string {
	e.t.Helper()
	r := e.must(e.do("POST", "/scim/v2/"+tenant+"/Users", e.scim[tenant], map[string]any{
		"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}), 201)
	return r.json()["id"].(string)
}

// TestSCIMAgents drives the Agent resource type end to end over HTTP: discovery, create with
// an accountable owner, read, filter, PUT, PATCH, deactivation (keys revoked), deletion,
// bad input (clear error, nothing changed), and that every step is a ledger entry with
// channel scim on the same service account the admin API sees.
func TestSCIMAgents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		app := e.issue("acme", "app")
		base := "/scim/v2/acme/Agents"
		alice := e.user("alice@example.com")
		bob := e.user("bob@example.com")

		// Discovery lists the resource type and its schema.
		rt := e.must(e.do("GET", "/scim/v2/acme/ResourceTypes/Agent", tok, nil), 200).json()
		if rt["endpoint"] != "/Agents" || rt["schema"] != agentURN {
			t.Fatalf("Agent resource type %v", rt)
		}
		sch := e.must(e.do("GET", "/scim/v2/acme/Schemas/"+agentURN, tok, nil), 200)
		for _, a := range []string{`"agentUserName"`, `"owners"`, `"active"`, `"description"`} {
			if !strings.Contains(string(sch.body), a) {
				t.Errorf("Agent schema lacks %s: %s", a, sch.body)
			}
		}

		// Bad input: a clear SCIM error and no entry.
		before := e.auditSize()
		scimError(t, e.do("POST", base, tok, agentDoc("ci-bot", "nobody")), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, agentDoc("ci-bot", e.userIn("globex", "eve@globex.example"))), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, map[string]any{"schemas": []any{agentURN}, "agentUserName": "ci-bot"}), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, map[string]any{"schemas": []any{agentURN}, "agentUserName": "ci-bot",
			"owners": []any{map[string]any{"value": alice}, map[string]any{"value": bob}}}), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, map[string]any{"schemas": []any{agentURN}, "owners": []any{map[string]any{"value": alice}}}), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "agentUserName": "x",
			"owners": []any{map[string]any{"value": alice}}}), 400, "invalidValue")
		scimError(t, e.do("POST", base, tok, map[string]any{"schemas": []any{agentURN}, "agentUserName": "x", "active": "yes",
			"owners": []any{map[string]any{"value": alice}}}), 400, "invalidValue")
		if got := e.auditSize(); got != before {
			t.Fatalf("refused requests appended %d entries", got-before)
		}

		// Create.
		cr := e.must(e.do("POST", base, tok, map[string]any{"schemas": []any{agentURN}, "agentUserName": "ci-bot",
			"description": "runs the nightly build", "owners": []any{map[string]any{"value": alice}}}), 201)
		ag := cr.json()
		id, _ := ag["id"].(string)
		if id == "" || ag["active"] != true || ag["agentUserName"] != "ci-bot" {
			t.Fatalf("created agent %s", cr.body)
		}
		owner := ag["owners"].([]any)[0].(map[string]any)
		if owner["value"] != alice || owner["display"] != "alice@example.com" || owner["$ref"] != e.srv.URL+"/scim/v2/acme/Users/"+alice {
			t.Fatalf("owners %v", owner)
		}
		if got, want := cr.header.Get("Location"), e.srv.URL+"/scim/v2/acme/Agents/"+id; got != want {
			t.Fatalf("Location %q, want %q", got, want)
		}
		if cr.header.Get("Scimtrail-Audit-Seq") == "" || cr.header.Get("ETag") == "" {
			t.Fatalf("create lacks Scimtrail-Audit-Seq or ETag: %v", cr.header)
		}
		// The same row on the admin API.
		sa := e.must(e.do("GET", "/api/v1/tenants/acme/service-accounts/"+id, e.operator, nil), 200).json()
		if sa["name"] != "ci-bot" || sa["owner_id"] != alice {
			t.Fatalf("admin API view %v", sa)
		}
		// Not visible from another tenant.
		scimError(t, e.do("GET", "/scim/v2/globex/Agents/"+id, e.scim["globex"], nil), 404, "")

		other := e.must(e.do("POST", base, tok, agentDoc("helpdesk", bob)), 201).json()["id"].(string)

		// Read and filter.
		got := e.must(e.do("GET", base+"/"+id, tok, nil), 200)
		if got.json()["description"] != "runs the nightly build" {
			t.Fatalf("get %s", got.body)
		}
		e.must(e.do("GET", base+"/"+id, tok, nil, "If-None-Match", got.header.Get("ETag")), 304)
		list := func(filter string) []string {
			l := e.must(e.do("GET", base+"?filter="+url.QueryEscape(filter), tok, nil), 200).json()
			var ids []string
			for _, r := range l["Resources"].([]any) {
				ids = append(ids, r.(map[string]any)["id"].(string))
			}
			return ids
		}
		if ids := list(`agentUserName eq "CI-BOT"`); len(ids) != 1 || ids[0] != id {
			t.Fatalf("filter by agentUserName %v, want [%s]", ids, id)
		}
		if ids := list(`owners.value eq "` + bob + `"`); len(ids) != 1 || ids[0] != other {
			t.Fatalf("filter by owner %v, want [%s]", ids, other)
		}
		if ids := list(`active eq true`); len(ids) != 2 {
			t.Fatalf("filter active %v, want both", ids)
		}
		scimError(t, e.do("GET", base+"?filter="+url.QueryEscape(`agentUserName eq`), tok, nil), 400, "invalidFilter")
		page := e.must(e.do("GET", base+"?startIndex=2&count=1", tok, nil), 200).json()
		if page["totalResults"] != 2.0 || page["itemsPerPage"] != 1.0 {
			t.Fatalf("page %v", page)
		}

		// Keys issued on the admin API work until the agent is deactivated over SCIM.
		key := e.must(e.do("POST", "/api/v1/tenants/acme/service-accounts/"+id+"/keys", e.operator, nil), 201).json()["key"].(string)
		verify := func() any {
			return e.must(e.do("POST", "/api/v1/tenants/acme/service-accounts/verify", app, map[string]any{"key": key}), 200).json()["valid"]
		}
		if verify() != true {
			t.Fatal("a new key does not verify")
		}

		// PUT: a new name, description and owner; a stale If-Match is refused.
		scimError(t, e.do("PUT", base+"/"+id, tok, agentDoc("ci-bot-2", bob), "If-Match", `W/"1"`), 412, "")
		put := e.must(e.do("PUT", base+"/"+id, tok, agentDoc("ci-bot-2", bob), "If-Match", got.header.Get("ETag")), 200).json()
		if put["agentUserName"] != "ci-bot-2" || put["description"] != nil || put["owners"].([]any)[0].(map[string]any)["value"] != bob || put["active"] != true {
			t.Fatalf("after PUT %v", put)
		}
		upd := e.entriesOf("service_account.updated")
		if len(upd) != 1 || upd[0]["channel"] != "scim" || !strings.Contains(jsonString(upd[0]["changes"]), `"owner_id"`) {
			t.Fatalf("service_account.updated %v", upd)
		}
		// An owner that is not a user: refused, nothing changes.
		before = e.auditSize()
		scimError(t, e.do("PATCH", base+"/"+id, tok, patchOp("replace", "owners", []any{map[string]any{"value": "nobody"}})), 400, "invalidValue")
		scimError(t, e.do("PATCH", base+"/"+id, tok, patchOp("remove", "agentUserName", nil)), 400, "mutability")
		if got := e.auditSize(); got != before {
			t.Fatalf("refused patches appended %d entries", got-before)
		}

		// PATCH active false: disabled, the key revoked, the revocation caused by the deactivation.
		p := e.must(e.do("PATCH", base+"/"+id, tok, patchOp("replace", "active", false)), 200)
		if p.json()["active"] != false {
			t.Fatalf("after deactivation %s", p.body)
		}
		if verify() != false {
			t.Fatal("a deactivated agent's key still verifies")
		}
		dis := e.entriesOf("service_account.disabled")
		revs := e.entriesOf("nhi.key_revoked")
		if len(dis) != 1 || dis[0]["channel"] != "scim" || len(revs) != 1 || revs[0]["cause"] != dis[0]["seq"] {
			t.Fatalf("service_account.disabled %v, nhi.key_revoked %v: want one revocation caused by the deactivation", dis, revs)
		}
		if p.header.Get("Scimtrail-Audit-Seq") != jsonString(revs[0]["seq"]) {
			t.Fatalf("PATCH receipt %s, want the last entry %v", p.header.Get("Scimtrail-Audit-Seq"), revs[0]["seq"])
		}
		// Deactivation is final.
		scimError(t, e.do("PATCH", base+"/"+id, tok, patchOp("replace", "active", true)), 400, "mutability")
		// Re-sending the same state changes nothing.
		before = e.auditSize()
		e.must(e.do("PATCH", base+"/"+id, tok, patchOp("replace", "agentUserName", "ci-bot-2")), 200)
		if got := e.auditSize(); got != before {
			t.Fatalf("a no-op PATCH appended %d entries", got-before)
		}

		// DELETE: the other agent's key is revoked, the agent is gone from both surfaces.
		key = e.must(e.do("POST", "/api/v1/tenants/acme/service-accounts/"+other+"/keys", e.operator, nil), 201).json()["key"].(string)
		e.must(e.do("DELETE", base+"/"+other, tok, nil), 204)
		if verify() != false {
			t.Fatal("a deleted agent's key still verifies")
		}
		scimError(t, e.do("GET", base+"/"+other, tok, nil), 404, "")
		apiError(t, e.do("GET", "/api/v1/tenants/acme/service-accounts/"+other, e.operator, nil), 404, "not_found")
		del := e.entriesOf("service_account.deleted")
		if len(del) != 1 || del[0]["channel"] != "scim" {
			t.Fatalf("service_account.deleted %v", del)
		}
		if ids := list(`agentUserName pr`); len(ids) != 1 || ids[0] != id {
			t.Fatalf("after delete the list is %v, want [%s]", ids, id)
		}
		for _, act := range []string{"service_account.created", "service_account.updated", "service_account.disabled", "nhi.key_revoked", "service_account.deleted"} {
			for _, en := range e.entriesOf(act) {
				if act != "nhi.key_revoked" && en["channel"] != "scim" {
					t.Errorf("%s entry on channel %v, want scim", act, en["channel"])
				}
			}
		}
	})
}
