package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRootSearch checks POST /.search at the SCIM root (RFC 7644 §3.4.3): both resource
// types, paging across them, a filter only one type has, and an invalid filter.
func TestRootSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		for _, n := range []string{"r1@example.com", "r2@example.com"} {
			e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser(n)), 201)
		}
		e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Admins"}), 201)
		search := func(body map[string]any) map[string]any {
			body["schemas"] = []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}
			return e.must(e.do("POST", "/scim/v2/acme/.search", tok, body), 200).json()
		}
		types := func(m map[string]any) []string {
			var out []string
			for _, r := range m["Resources"].([]any) {
				// schemas is returned always, whatever attributes asks for.
				typ := "User"
				if r.(map[string]any)["schemas"].([]any)[0] == "urn:ietf:params:scim:schemas:core:2.0:Group" {
					typ = "Group"
				}
				out = append(out, typ)
			}
			return out
		}
		all := search(map[string]any{})
		if all["totalResults"] != 3.0 || len(types(all)) != 3 || types(all)[2] != "Group" {
			t.Errorf("root search of everything: total %v, types %v", all["totalResults"], types(all))
		}
		page := search(map[string]any{"startIndex": 2, "count": 2, "attributes": []string{"id"}})
		if got := types(page); page["totalResults"] != 3.0 || len(got) != 2 || got[0] != "User" || got[1] != "Group" {
			t.Errorf("page 2..3: total %v, types %v", page["totalResults"], got)
		}
		if u := page["Resources"].([]any)[0].(map[string]any); u["userName"] != nil {
			t.Errorf("attributes=id still returned userName: %v", u)
		}
		users := search(map[string]any{"filter": `userName sw "r"`})
		if users["totalResults"] != 2.0 {
			t.Errorf("userName filter at the root: total %v, want 2 users", users["totalResults"])
		}
		groups := search(map[string]any{"filter": `displayName eq "Admins"`})
		if groups["totalResults"] != 1.0 || types(groups)[0] != "Group" {
			t.Errorf("displayName filter at the root: %v", groups)
		}
		scimError(t, e.do("POST", "/scim/v2/acme/.search", tok, map[string]any{"filter": `userName eq`}), 400, "invalidFilter")
	})
}

// TestListLimits: count=0 returns only totalResults (RFC 7644 §3.4.2.4); a count above
// filter.maxResults is cut to it rather than refused, since maxResults is "the maximum
// number of resources returned in a response" (RFC 7643 §5) and tooMany is for filters a
// server will not evaluate at all (RFC 7644 §3.12).
func TestListLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("l@example.com")), 201)
		r := e.must(e.do("GET", "/scim/v2/acme/Users?count=0", tok, nil), 200).json()
		if r["totalResults"] != 1.0 || len(r["Resources"].([]any)) != 0 {
			t.Errorf("count=0: %v", r)
		}
		r = e.must(e.do("GET", "/scim/v2/acme/Users?count=5000", tok, nil), 200).json()
		if r["itemsPerPage"] != 1.0 {
			t.Errorf("count=5000: %v", r)
		}
	})
}

func TestMe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE", "POST"} {
			var body any
			if m != "GET" && m != "DELETE" {
				body = map[string]any{}
			}
			scimError(t, e.do(m, "/scim/v2/acme/Me", e.scim["acme"], body), 501, "")
		}
		scimError(t, e.do("GET", "/scim/v2/acme/Me", "", nil), 401, "")
	})
}

// TestRootSearchCursor pages a root search by cursor (RFC 9865 §2 over RFC 7644 §3.4.3):
// Users then Groups, each exactly once, across the boundary between the types, with
// nextCursor on every page but the last, and an edited cursor refused as invalidCursor.
func TestRootSearchCursor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var want []string
		for i := range 3 {
			want = append(want, e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser(fmt.Sprintf("rc%d@example.com", i))), 201).json()["id"].(string))
		}
		for _, n := range []string{"G1", "G2"} {
			want = append(want, e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": n}), 201).json()["id"].(string))
		}
		search := func(cursor string, count int) resp {
			return e.do("POST", "/scim/v2/acme/.search", tok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "cursor": cursor, "count": count})
		}
		for _, count := range []int{2, 3, 5} {
			var got []string
			cursor, pages := "", 0
			for {
				p := e.must(search(cursor, count), 200).json()
				pages++
				if p["totalResults"] != 5.0 || p["startIndex"] != nil {
					t.Fatalf("count %d page %d metadata: %v", count, pages, p)
				}
				got = append(got, listIDs(t, p)...)
				next, ok := p["nextCursor"].(string)
				if !ok || pages > 5 {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("count %d: paged %v, want %v", count, got, want)
			}
			if wantPages := (5 + count - 1) / count; pages != wantPages {
				t.Errorf("count %d: %d pages, want %d", count, pages, wantPages)
			}
		}
		p1 := e.must(search("", 2), 200).json()
		next := p1["nextCursor"].(string)
		if !strings.HasPrefix(next, "u:") {
			t.Fatalf("first root cursor %q does not resume the Users", next)
		}
		scimError(t, search("g:"+strings.TrimPrefix(next, "u:"), 2), 400, "invalidCursor")
		scimError(t, search("x:", 2), 400, "invalidCursor")
		scimError(t, search("garbage", 2), 400, "invalidCursor")
	})
}
