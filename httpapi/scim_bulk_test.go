package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/heapwatch"
	"github.com/scimtrail/scimtrail/service"
)

const bulkRequestSchema = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{bulkRequestSchema}, "Operations": ops}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

// bulkOps returns a BulkResponse's operations by bulkId (or method+index when none).
func bulkOps(t *testing.T, r resp) []map[string]any {
	t.Helper()
	m := r.json()
	if s, _ := m["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:BulkResponse" {
		t.Fatalf("not a BulkResponse: %s", r.body)
	}
	var out []map[string]any
	for _, o := range m["Operations"].([]any) {
		out = append(out, o.(map[string]any))
	}
	return out
}

func (e *env) countUsers(tenant, filter string) int {
	e.t.Helper()
	path := "/scim/v2/" + tenant + "/Users?count=0"
	if filter != "" {
		path += "&filter=" + url.QueryEscape(filter)
	}
	n, _ := e.must(e.do("GET", path, e.scim[tenant], nil), 200).json()["totalResults"].(float64)
	return int(n)
}

// TestBulk checks RFC 7644 §3.7: bulkId references across operations (also forward and in
// paths and group members), each operation's own result, and the ledger.
func TestBulk(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		before := len(e.auditSeqs("acme"))
		r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0,
			// The group comes first and names a user created later in the request.
			map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1", "data": map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Tour Guides",
				"members": []any{map[string]any{"type": "User", "value": "bulkId:u1"}}}},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "u1", "data": newUser("bulk.alice@example.com")},
			map[string]any{"method": "PATCH", "path": "/Users/bulkId:u1", "data": map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Alice B"}}}},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "dup", "data": newUser("BULK.ALICE@example.com")},
		)), 200)
		ops := bulkOps(t, r)
		if len(ops) != 4 {
			t.Fatalf("%d results, want 4: %s", len(ops), r.body)
		}
		for i, want := range []string{"201", "201", "200", "409"} {
			if ops[i]["status"] != want {
				t.Errorf("operation %d status %v, want %s: %v", i, ops[i]["status"], want, ops[i])
			}
		}
		if resp, _ := ops[3]["response"].(map[string]any); resp == nil || resp["scimType"] != "uniqueness" {
			t.Errorf("the duplicate's response %v, want a uniqueness error", ops[3]["response"])
		}
		userLoc, _ := ops[1]["location"].(string)
		groupLoc, _ := ops[0]["location"].(string)
		if !strings.HasPrefix(userLoc, e.srv.URL+"/scim/v2/acme/Users/") || !strings.HasPrefix(groupLoc, e.srv.URL+"/scim/v2/acme/Groups/") {
			t.Fatalf("locations %q, %q", userLoc, groupLoc)
		}
		userID := userLoc[strings.LastIndex(userLoc, "/")+1:]
		if ops[2]["location"] != userLoc || ops[2]["version"] != `W/"2"` {
			t.Errorf("PATCH result %v, want the user's location and version W/\"2\"", ops[2])
		}
		g := e.must(e.do("GET", strings.TrimPrefix(groupLoc, e.srv.URL), tok, nil), 200).json()
		members, _ := g["members"].([]any)
		if len(members) != 1 || members[0].(map[string]any)["value"] != userID {
			t.Errorf("group members %v, want exactly the user %s", members, userID)
		}
		u := e.must(e.do("GET", "/scim/v2/acme/Users/"+userID, tok, nil), 200).json()
		if u["displayName"] != "Alice B" {
			t.Errorf("user displayName %v, want the PATCH's", u["displayName"])
		}
		// group.created, group.member_added, user.created, user.updated: the failed POST
		// wrote nothing.
		if got := len(e.auditSeqs("acme")) - before; got != 4 {
			t.Errorf("%d new ledger entries, want 4", got)
		}

		t.Run("DeleteAndVersion", func(t *testing.T) {
			r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0,
				map[string]any{"method": "DELETE", "path": "/Users/" + userID, "version": `W/"1"`},
				map[string]any{"method": "DELETE", "path": "/Users/" + userID, "version": `W/"2"`},
			)), 200)
			ops := bulkOps(t, r)
			if ops[0]["status"] != "412" || ops[1]["status"] != "204" {
				t.Errorf("statuses %v, %v, want 412 then 204", ops[0]["status"], ops[1]["status"])
			}
			e.must(e.do("GET", "/scim/v2/acme/Users/"+userID, tok, nil), 404)
		})
	})
}

func TestBulkFailOnErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(1,
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": newUser("a@example.com")},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "b", "data": map[string]any{"schemas": []string{userSchema}}},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "c", "data": newUser("c@example.com")},
		)), 200)
		ops := bulkOps(t, r)
		if len(ops) != 2 || ops[0]["status"] != "201" || ops[1]["status"] != "400" {
			t.Fatalf("results %v, want 201 then 400 and nothing after", ops)
		}
		if n := e.countUsers("acme", `userName eq "c@example.com"`); n != 0 {
			t.Errorf("the operation after failOnErrors was reached ran: %d users", n)
		}
	})
}

// TestBulkPartialFailure: an operation that fails half-way (the second PATCH operation is
// invalid) leaves none of its changes, and later operations still run.
func TestBulkPartialFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		id := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("p@example.com")), 201).json()["id"].(string)
		r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0,
			map[string]any{"method": "PATCH", "path": "/Users/" + id, "data": map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{
					map[string]any{"op": "replace", "path": "displayName", "value": "Changed"},
					map[string]any{"op": "replace", "path": "id", "value": "x"},
				}}},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "n", "data": newUser("n@example.com")},
		)), 200)
		ops := bulkOps(t, r)
		if ops[0]["status"] != "400" || ops[1]["status"] != "201" {
			t.Fatalf("statuses %v %v, want 400 and 201", ops[0]["status"], ops[1]["status"])
		}
		u := e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 200).json()
		if u["displayName"] != nil || u["meta"].(map[string]any)["version"] != `W/"1"` {
			t.Errorf("the failed operation left state behind: %v", u)
		}
	})
}

func TestBulkReferences(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		group := func(bulkID, member string) map[string]any {
			return map[string]any{"method": "POST", "path": "/Groups", "bulkId": bulkID, "data": map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "G " + bulkID,
				"members": []any{map[string]any{"value": "bulkId:" + member}}}}
		}
		r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0,
			group("ga", "gb"), group("gb", "ga"), group("self", "self"),
			group("lost", "nowhere"),
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "ok", "data": newUser("ok@example.com")},
		)), 200)
		ops := bulkOps(t, r)
		want := map[string]string{"ga": "409", "gb": "409", "self": "409", "lost": "400", "ok": "201"}
		if len(ops) != len(want) {
			t.Fatalf("%d results, want %d: %s", len(ops), len(want), r.body)
		}
		for _, o := range ops {
			if o["status"] != want[o["bulkId"].(string)] {
				t.Errorf("bulkId %v status %v, want %s: %v", o["bulkId"], o["status"], want[o["bulkId"].(string)], o["response"])
			}
		}
		gl := e.must(e.do("GET", "/scim/v2/acme/Groups?count=0", tok, nil), 200).json()
		if gl["totalResults"] != 0.0 {
			t.Errorf("%v groups exist after every group operation failed", gl["totalResults"])
		}
	})
}

// TestBulkLimits: maxOperations and maxPayloadSize are enforced before anything runs
// (RFC 7644 §3.7.4), with 413 and a SCIM error.
func TestBulkLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var ops []map[string]any
		for i := range 1001 {
			ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": newUser(fmt.Sprintf("u%d@example.com", i))})
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0, ops...)), 413, "")
		big := newUser("big@example.com")
		big["title"] = strings.Repeat("x", 1<<20)
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0, ops[0],
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "big", "data": big})), 413, "")
		if n := e.countUsers("acme", ""); n != 0 {
			t.Errorf("%d users exist after rejected bulk requests", n)
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, map[string]any{"Operations": []any{}}), 400, "invalidSyntax")
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0,
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "x", "data": newUser("x1@example.com")},
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "x", "data": newUser("x2@example.com")})), 400, "invalidValue")
		if n := e.countUsers("acme", ""); n != 0 {
			t.Errorf("%d users exist after rejected bulk requests", n)
		}
	})
}

// TestBulkAbuse: a Bulk over maxOperations or maxPayloadSize is refused with 413 before any
// operation runs — whether its length is declared or it arrives chunked, and whether its
// valid operations come before the excess — and circular bulkIds (a 2-cycle, a 3-cycle, a
// PATCH whose path and members reference each other) are rejected with nothing written:
// no state and not one ledger entry, with and without failOnErrors. The live heap stays
// under heapwatch.Bound throughout.
func TestBulkAbuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		heapwatch.Bounded(t)
		tok := e.scim["acme"]
		before := len(e.auditSeqs("acme"))
		unchanged := func(what string) {
			t.Helper()
			if n := e.countUsers("acme", ""); n != 0 {
				t.Errorf("%s: %d users exist", what, n)
			}
			if n, _ := e.must(e.do("GET", "/scim/v2/acme/Groups?count=0", tok, nil), 200).json()["totalResults"].(float64); n != 0 {
				t.Errorf("%s: %v groups exist", what, n)
			}
			if n := len(e.auditSeqs("acme")); n != before {
				t.Errorf("%s: the log grew from %d to %d entries", what, before, n)
			}
		}
		create := func(i int) map[string]any {
			return map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint("u", i), "data": newUser(fmt.Sprintf("abuse%d@example.com", i))}
		}

		// One operation over maxOperations, every one of them valid.
		var ops []map[string]any
		for i := range service.MaxBulkOperations + 1 {
			ops = append(ops, create(i))
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(0, ops...)), 413, "")
		unchanged("over maxOperations")

		// Over maxPayloadSize: declared, and chunked (no Content-Length), the valid
		// operations first and the excess in the last one.
		big := newUser("big@example.com")
		big["title"] = strings.Repeat("x", service.MaxBulkPayload)
		over, err := json.Marshal(bulkBody(0, create(1), create(2), map[string]any{"method": "POST", "path": "/Users", "bulkId": "big", "data": big}))
		if err != nil {
			t.Fatal(err)
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, over), 413, "")
		scimError(t, e.do("POST", "/scim/v2/acme/Bulk", tok, io.Reader(bytes.NewReader(over))), 413, "")
		unchanged("over maxPayloadSize")

		// Circular bulkIds.
		group := func(bulkID string, members ...string) map[string]any {
			var ms []any
			for _, m := range members {
				ms = append(ms, map[string]any{"value": "bulkId:" + m})
			}
			return map[string]any{"method": "POST", "path": "/Groups", "bulkId": bulkID, "data": map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "G " + bulkID, "members": ms}}
		}
		patchMembers := func(path, member string) map[string]any {
			return map[string]any{"method": "PATCH", "path": path, "data": map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "bulkId:" + member}}}}}}
		}
		cycles := [][]map[string]any{
			{group("a", "b"), group("b", "a")},
			{group("x", "y"), group("y", "z"), group("z", "x")},
			{group("p", "q"), patchMembers("/Groups/bulkId:q", "p"), group("q", "p")},
			{group("s", "s")},
		}
		for _, failOnErrors := range []int{0, 1} {
			for i, c := range cycles {
				r := e.must(e.do("POST", "/scim/v2/acme/Bulk", tok, bulkBody(failOnErrors, c...)), 200)
				for _, o := range bulkOps(t, r) {
					if s, _ := o["status"].(string); s == "" || s[0] == '2' {
						t.Errorf("cycle %d (failOnErrors %d): operation %v %v succeeded: %v", i, failOnErrors, o["method"], o["bulkId"], o)
					}
				}
				unchanged(fmt.Sprintf("cycle %d (failOnErrors %d)", i, failOnErrors))
			}
		}
	})
}
