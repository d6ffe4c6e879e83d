package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/access"
)

// accessOf returns a user's access as "role: kind[via…]" strings, sorted, read through
// GET …/users/{id}/access (at = "" for now).
func (e *env) accessOf(tenant, user, at string) []string {
	e.t.Helper()
	path := "/api/v1/tenants/" + tenant + "/users/" + user + "/access"
	if at != "" {
		path += "?at=" + at
	}
	r := e.must(e.do("GET", path, e.operator, nil), 200)
	var body struct {
		UserID string
		Access []access.RoleAccess
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		e.t.Fatalf("access body: %v: %s", err, r.body)
	}
	out := []string{}
	for _, a := range body.Access {
		for _, p := range a.Paths {
			out = append(out, fmt.Sprintf("%s: %s%v", a.Role, p.Kind, p.Via))
		}
	}
	slices.Sort(out)
	return out
}

// auditEntries returns the tenant's entries as decoded bodies.
func (e *env) auditEntries(tenant string) []map[string]any {
	e.t.Helper()
	r := e.must(e.do("GET", "/api/v1/tenants/"+tenant+"/audit?limit=1000", e.operator, nil), 200)
	var body struct {
		Entries []struct {
			Entry map[string]any `json:"entry"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, en := range body.Entries {
		out = append(out, en.Entry)
	}
	return out
}

func (e *env) scimID(path string, body any) string {
	e.t.Helper()
	r := e.must(e.do("POST", "/scim/v2/acme/"+path, e.scim["acme"], body), 201)
	return r.json()["id"].(string)
}

func group(name string, members ...string) map[string]any {
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms}
}

func user(name string) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}
}

func patchOp(op, path string, value any) map[string]any {
	o := map[string]any{"op": op, "path": path}
	if value != nil {
		o["value"] = value
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{o}}
}

func TestAccessModel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		op := e.operator
		tick := func() string {
			e.clock.Advance(time.Second)
			at := e.clock.Now().UTC().Format(time.RFC3339Nano)
			e.clock.Advance(time.Second)
			return at
		}
		// Roles: a global catalogue (operator, _system log) and a tenant's own.
		auditSeq(t, e.must(e.do("POST", "/api/v1/roles", op, map[string]any{"id": "viewer", "name": "Viewer", "permissions": []string{"read"}}), 201))
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", op, map[string]any{"id": "billing-admin", "name": "Billing admin", "privileged": true}), 201)
		apiError(t, e.do("POST", "/api/v1/roles", op, map[string]any{"id": "viewer", "name": "Again"}), 409, "conflict")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/roles", op, map[string]any{"id": "viewer", "name": "Shadow"}), 409, "conflict")
		apiError(t, e.do("POST", "/api/v1/roles", op, map[string]any{"id": "Bad Id", "name": "x"}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/roles", op, map[string]any{"id": "noname"}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/roles", e.scim["acme"], map[string]any{"id": "x", "name": "x"}), 403, "forbidden")
		roles := e.must(e.do("GET", "/api/v1/tenants/acme/roles", op, nil), 200)
		if !strings.Contains(string(roles.body), `"billing-admin"`) || !strings.Contains(string(roles.body), `"viewer"`) {
			t.Errorf("tenant roles %s", roles.body)
		}
		if strings.Contains(string(e.must(e.do("GET", "/api/v1/tenants/globex/roles", op, nil), 200).body), "billing-admin") {
			t.Errorf("globex sees acme's role")
		}

		alice := e.scimID("Users", user("alice"))
		bob := e.scimID("Users", user("bob"))
		eng := e.scimID("Groups", group("Engineering", alice))
		staff := e.scimID("Groups", group("All-Staff", eng))

		// Mapping the outer group grants through the nested one; the derived entry's cause
		// is the mapping's own entry.
		apiError(t, e.do("POST", "/api/v1/tenants/acme/mappings", op, map[string]any{"group_id": staff, "role": "nosuch"}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/mappings", op, map[string]any{"group_id": "nosuch", "role": "viewer"}), 400, "invalid")
		r := e.must(e.do("POST", "/api/v1/tenants/acme/mappings", op, map[string]any{"group_id": staff, "role": "viewer"}), 201)
		mapping := r.json()["id"].(string)
		mappingSeq := auditSeq(t, r) - 1
		apiError(t, e.do("POST", "/api/v1/tenants/acme/mappings", op, map[string]any{"group_id": staff, "role": "viewer"}), 409, "conflict")
		want := []string{"viewer: group[" + eng + " " + staff + "]"}
		if got := e.accessOf("acme", alice, ""); !cmp.Equal(got, want) {
			t.Fatalf("alice after mapping %v, want %v", got, want)
		}
		entries := e.auditEntries("acme")
		last := entries[len(entries)-1]
		if last["action"] != "access.granted" || last["cause"] != float64(mappingSeq) || last["target"].(map[string]any)["id"] != alice {
			t.Errorf("derived entry %v, want access.granted for alice caused by seq %d", last, mappingSeq)
		}
		t1 := tick()

		// A second path: alice directly in All-Staff. A direct grant for bob.
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+staff, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": alice}})), 200)
		g := e.must(e.do("POST", "/api/v1/tenants/acme/grants", op, map[string]any{"user_id": bob, "role": "billing-admin", "reason": "INC-42"}), 201).json()
		apiError(t, e.do("POST", "/api/v1/tenants/acme/grants", op, map[string]any{"user_id": bob, "role": "billing-admin"}), 400, "invalid")
		apiError(t, e.do("POST", "/api/v1/tenants/acme/grants", op, map[string]any{"user_id": "nobody", "role": "viewer", "reason": "x"}), 400, "invalid")
		want = []string{"viewer: group[" + eng + " " + staff + "]", "viewer: group[" + staff + "]"}
		if got := e.accessOf("acme", alice, ""); !cmp.Equal(got, want) {
			t.Fatalf("alice with two paths %v, want %v", got, want)
		}
		if got, want := e.accessOf("acme", bob, ""), []string{"billing-admin: direct[]"}; !cmp.Equal(got, want) {
			t.Fatalf("bob %v, want %v", got, want)
		}
		t2 := tick()

		// Cycles are refused through every SCIM route, and change nothing.
		before := len(e.auditEntries("acme"))
		scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+eng, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": staff}})), 400, "invalidValue")
		scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+eng, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": eng}})), 400, "invalidValue")
		put := group("Engineering", alice, staff)
		scimError(t, e.do("PUT", "/scim/v2/acme/Groups/"+eng, e.scim["acme"], put), 400, "invalidValue")
		if after := len(e.auditEntries("acme")); after != before {
			t.Errorf("refused cycles wrote %d entries", after-before)
		}

		// Removing one path keeps the other.
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+staff, e.scim["acme"], patchOp("remove", "members[value eq \""+eng+"\"]", nil)), 200)
		want = []string{"viewer: group[" + staff + "]"}
		if got := e.accessOf("acme", alice, ""); !cmp.Equal(got, want) {
			t.Fatalf("alice after one path removed %v, want %v", got, want)
		}
		t3 := tick()

		// Deactivation removes everything; reactivation restores it.
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+alice, e.scim["acme"], patchOp("replace", "active", false)), 200)
		if got := e.accessOf("acme", alice, ""); len(got) != 0 {
			t.Fatalf("deactivated alice holds %v", got)
		}
		t4 := tick()
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+alice, e.scim["acme"], patchOp("replace", "active", true)), 200)
		if got := e.accessOf("acme", alice, ""); !cmp.Equal(got, want) {
			t.Fatalf("reactivated alice %v, want %v", got, want)
		}

		// Changes that cannot move access (a name) leave it and log no access entries; the
		// write path skips the recompute for them.
		nEntries := len(e.auditEntries("acme"))
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+alice, e.scim["acme"], patchOp("replace", "name.givenName", "Alice")), 200)
		if got := e.accessOf("acme", alice, ""); !cmp.Equal(got, want) {
			t.Fatalf("alice after a name change %v, want %v", got, want)
		}
		if after := e.auditEntries("acme"); len(after) != nEntries+1 || after[len(after)-1]["action"] != "user.updated" {
			t.Fatalf("a name change logged %d entries, the last %v; want one user.updated", len(after)-nEntries, after[len(after)-1])
		}

		// Roles sent on the SCIM User count as path kind scim; unknown roles are ignored.
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+bob, e.scim["acme"], patchOp("add", "roles", []any{map[string]any{"value": "viewer"}, map[string]any{"value": "unknown"}})), 200)
		if got, want := e.accessOf("acme", bob, ""), []string{"billing-admin: direct[]", "viewer: scim[]"}; !cmp.Equal(got, want) {
			t.Fatalf("bob with a SCIM role %v, want %v", got, want)
		}
		holders := e.must(e.do("GET", "/api/v1/tenants/acme/roles/viewer/holders", op, nil), 200)
		if !strings.Contains(string(holders.body), alice) || !strings.Contains(string(holders.body), bob) {
			t.Errorf("viewer holders %s", holders.body)
		}
		t5 := tick()

		// Renaming keeps history; revoking a grant and retiring a role revoke access.
		e.must(e.do("PATCH", "/api/v1/roles/viewer", op, map[string]any{"name": "Reader"}), 200)
		e.must(e.do("DELETE", "/api/v1/tenants/acme/grants/"+g["id"].(string), op, nil), 204)
		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/grants/"+g["id"].(string), op, nil), 409, "conflict")
		e.must(e.do("DELETE", "/api/v1/tenants/acme/roles/billing-admin", op, nil), 204)
		apiError(t, e.do("POST", "/api/v1/tenants/acme/roles", op, map[string]any{"id": "billing-admin", "name": "Reuse"}), 409, "conflict")
		if got, want := e.accessOf("acme", bob, ""), []string{"viewer: scim[]"}; !cmp.Equal(got, want) {
			t.Fatalf("bob after revocation %v, want %v", got, want)
		}
		t6 := tick()

		// Deleting the group removes its mapping and what it granted; deleting a user
		// removes the user's access.
		e.must(e.do("DELETE", "/scim/v2/acme/Groups/"+staff, e.scim["acme"], nil), 204)
		e.must(e.do("DELETE", "/scim/v2/acme/Users/"+bob, e.scim["acme"], nil), 204)
		apiError(t, e.do("DELETE", "/api/v1/tenants/acme/mappings/"+mapping, op, nil), 404, "not_found")
		if got := e.must(e.do("GET", "/api/v1/tenants/acme/access", op, nil), 200); !strings.Contains(string(got.body), `"users":[]`) {
			t.Fatalf("tenant access after deletions %s", got.body)
		}

		// The past is answered as it was.
		for at, want := range map[string][]string{
			t1: {"viewer: group[" + eng + " " + staff + "]"},
			t2: {"viewer: group[" + eng + " " + staff + "]", "viewer: group[" + staff + "]"},
			t3: {"viewer: group[" + staff + "]"},
			t4: {},
		} {
			if got := e.accessOf("acme", alice, at); !cmp.Equal(got, want) {
				t.Errorf("alice at %s: %v, want %v", at, got, want)
			}
		}
		if got, want := e.accessOf("acme", bob, t5), []string{"billing-admin: direct[]", "viewer: scim[]"}; !cmp.Equal(got, want) {
			t.Errorf("deleted bob at t5: %v, want %v", got, want)
		}
		apiError(t, e.do("GET", "/api/v1/tenants/acme/access?at=yesterday", op, nil), 400, "invalid")

		// Replaying the log from seq 1 reproduces every answer.
		var h access.History
		for _, en := range e.auditEntries("acme") {
			b, _ := json.Marshal(en)
			if err := h.Apply(b); err != nil {
				t.Fatalf("replay: %v", err)
			}
		}
		for _, at := range []string{t1, t2, t3, t4, t5, t6, e.clock.Now().UTC().Format(time.RFC3339Nano)} {
			r := e.must(e.do("GET", "/api/v1/tenants/acme/access?at="+at, op, nil), 200)
			var got struct{ Users []access.UserAccess }
			json.Unmarshal(r.body, &got)
			tt, _ := time.Parse(time.RFC3339Nano, at)
			replayed := access.Summarize(h.At(tt, "", ""))
			if !cmp.Equal(got.Users, replayed, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })) && !(len(got.Users) == 0 && len(replayed) == 0) {
				t.Errorf("at %s the API says %+v, the replayed log %+v", at, got.Users, replayed)
			}
		}
	})
}

func TestAccessNestedFiveLevels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", e.operator, map[string]any{"id": "deep", "name": "Deep"}), 201)
		u := e.scimID("Users", user("dana"))
		ids := []string{e.scimID("Groups", group("L1", u))}
		for i := 2; i <= 5; i++ {
			ids = append(ids, e.scimID("Groups", group(fmt.Sprintf("L%d", i), ids[len(ids)-1])))
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/mappings", e.operator, map[string]any{"group_id": ids[4], "role": "deep"}), 201)
		if got, want := e.accessOf("acme", u, ""), []string{"deep: group" + fmt.Sprint(ids)}; !cmp.Equal(got, want) {
			t.Fatalf("five levels: %v, want %v", got, want)
		}
		// L1 cannot contain L5: that would close the loop.
		scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+ids[0], e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": ids[4]}})), 400, "invalidValue")
		// Cutting the middle link revokes.
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+ids[2], e.scim["acme"], patchOp("remove", "members[value eq \""+ids[1]+"\"]", nil)), 200)
		if got := e.accessOf("acme", u, ""); len(got) != 0 {
			t.Fatalf("after cutting L2 from L3: %v", got)
		}
	})
}

// A tenant without any role skips the access recompute on member changes, but nested
// groups must still never form a cycle.
func TestGroupCycleRefusedWithoutRoles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		outer := e.scimID("Groups", group("Outer"))
		inner := e.scimID("Groups", group("Inner", outer))
		n := len(e.auditEntries("acme"))
		scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+outer, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": inner}})), 400, "invalidValue")
		scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+outer, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": outer}})), 400, "invalidValue")
		if got := len(e.auditEntries("acme")); got != n {
			t.Errorf("refused cycles wrote %d entries", got-n)
		}
		// A user member is no cycle.
		u := e.scimID("Users", user("erin"))
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+outer, e.scim["acme"], patchOp("add", "members", []any{map[string]any{"value": u}})), 200)
	})
}

func TestBreakGlass(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		op := e.operator
		e.must(e.do("POST", "/api/v1/tenants/acme/roles", op, map[string]any{"id": "root", "name": "Root", "privileged": true}), 201)
		u := e.scimID("Users", user("oncall"))
		for _, bad := range []map[string]any{
			{"user_id": u, "role": "root", "duration": "1h"},
			{"user_id": u, "role": "root", "justification": "x", "duration": "9h"},
			{"user_id": u, "role": "root", "justification": "x", "duration": "soon"},
			{"user_id": u, "role": "root", "justification": "x", "duration": "-1h"},
		} {
			apiError(t, e.do("POST", "/api/v1/tenants/acme/break-glass", op, bad), 400, "invalid")
		}
		e.must(e.do("POST", "/api/v1/tenants/acme/break-glass", op, map[string]any{"user_id": u, "role": "root", "justification": "INC-7 outage", "duration": "1h"}), 201)
		entries := e.auditEntries("acme")
		for _, en := range entries[len(entries)-2:] {
			if en["actor"].(map[string]any)["type"] != "break_glass" {
				t.Errorf("break-glass entry %v has actor type %v", en["action"], en["actor"])
			}
		}
		if got, want := e.accessOf("acme", u, ""), []string{"root: break_glass[]"}; !cmp.Equal(got, want) {
			t.Fatalf("during break-glass %v, want %v", got, want)
		}
		e.clock.Advance(time.Hour + time.Second)
		// No expirer has run, yet access has ended at the instant.
		if got := e.accessOf("acme", u, ""); len(got) != 0 {
			t.Fatalf("after expiry, before the expirer: %v", got)
		}
		n, _, err := e.svc.ExpireAccess(t.Context(), "acme")
		if err != nil || n != 1 {
			t.Fatalf("ExpireAccess: %d, %v", n, err)
		}
		entries = e.auditEntries("acme")
		if last := entries[len(entries)-1]; last["action"] != "access.expired" || last["actor"].(map[string]any)["type"] != "system" {
			t.Errorf("last entry %v", last)
		}
		if n, _, _ := e.svc.ExpireAccess(t.Context(), "acme"); n != 0 {
			t.Errorf("second ExpireAccess expired %d", n)
		}
	})
}
