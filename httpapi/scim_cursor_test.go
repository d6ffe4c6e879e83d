package httpapi_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

func listIDs(t *testing.T, m map[string]any) []string {
	t.Helper()
	var ids []string
	rs, _ := m["Resources"].([]any)
	for _, r := range rs {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	return ids
}

// TestCursorPagination checks RFC 9865: cursor and count, nextCursor on every page but the
// last, previousCursor, totalResults on every page, invalidCursor and expiredCursor, and
// that a deletion between pages neither skips nor repeats a resource (keyset, not OFFSET).
func TestCursorPagination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var all []string
		for i := range 7 {
			all = append(all, e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser(fmt.Sprintf("c%d@example.com", i))), 201).json()["id"].(string))
		}
		get := func(cursor string, extra string) resp {
			return e.do("GET", "/scim/v2/acme/Users?count=3&cursor="+url.QueryEscape(cursor)+extra, tok, nil)
		}
		p1 := e.must(e.do("GET", "/scim/v2/acme/Users?cursor&count=3", tok, nil), 200).json()
		if got := listIDs(t, p1); !slices.Equal(got, all[:3]) {
			t.Fatalf("first page %v, want %v", got, all[:3])
		}
		if p1["totalResults"] != 7.0 || p1["itemsPerPage"] != 3.0 || p1["previousCursor"] != nil || p1["startIndex"] != nil {
			t.Errorf("first page metadata %v", p1)
		}
		next1, _ := p1["nextCursor"].(string)
		if next1 == "" {
			t.Fatalf("first page has no nextCursor: %v", p1)
		}
		// all[0] goes away between pages: with OFFSET paging all[3] would be skipped.
		e.must(e.do("DELETE", "/scim/v2/acme/Users/"+all[0], tok, nil), 204)
		p2 := e.must(get(next1, ""), 200).json()
		if got := listIDs(t, p2); !slices.Equal(got, all[3:6]) {
			t.Errorf("second page %v, want %v", got, all[3:6])
		}
		if p2["totalResults"] != 6.0 || p2["previousCursor"] == nil || p2["nextCursor"] == nil {
			t.Errorf("second page metadata %v", p2)
		}
		p3 := e.must(get(p2["nextCursor"].(string), ""), 200).json()
		if got := listIDs(t, p3); !slices.Equal(got, all[6:]) {
			t.Errorf("last page %v, want %v", got, all[6:])
		}
		if _, ok := p3["nextCursor"]; ok {
			t.Errorf("the last page has a nextCursor: %v", p3)
		}
		back := e.must(get(p3["previousCursor"].(string), ""), 200).json()
		if got := listIDs(t, back); !slices.Equal(got, all[3:6]) {
			t.Errorf("previous page %v, want %v", got, all[3:6])
		}
		back2 := e.must(get(back["previousCursor"].(string), ""), 200).json()
		if got := listIDs(t, back2); !slices.Equal(got, all[1:3]) || back2["previousCursor"] != nil {
			t.Errorf("first page reached backwards %v (previousCursor %v), want %v and none", got, back2["previousCursor"], all[1:3])
		}

		t.Run("Search", func(t *testing.T) {
			r := e.must(e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "cursor": "", "count": 4}), 200).json()
			if got := listIDs(t, r); !slices.Equal(got, all[1:5]) || r["nextCursor"] == nil {
				t.Errorf(".search page %v (nextCursor %v), want %v and a cursor", got, r["nextCursor"], all[1:5])
			}
		})
		t.Run("Errors", func(t *testing.T) {
			tampered := []byte(next1)
			tampered[2] ^= 1
			scimError(t, get(string(tampered), ""), 400, "invalidCursor")
			scimError(t, get("not-a-cursor", ""), 400, "invalidCursor")
			scimError(t, get(next1, "&filter="+url.QueryEscape(`active eq true`)), 400, "invalidCursor")
			scimError(t, e.do("GET", "/scim/v2/globex/Users?cursor="+next1, e.scim["globex"], nil), 400, "invalidCursor")
			scimError(t, get(next1, "&startIndex=1"), 400, "invalidValue")
			scimError(t, get("", "&sortBy=userName"), 400, "invalidValue")
			e.clock.Advance(61 * time.Minute)
			scimError(t, get(next1, ""), 400, "expiredCursor")
		})
		t.Run("Advertised", func(t *testing.T) {
			spc := e.must(e.do("GET", "/scim/v2/acme/ServiceProviderConfig", tok, nil), 200).json()
			p, _ := spc["pagination"].(map[string]any)
			if p["cursor"] != true || p["index"] != true || p["maxPageSize"] != 1000.0 || p["cursorTimeout"] != 3600.0 || p["defaultPaginationMethod"] != "index" {
				t.Errorf("pagination %v", p)
			}
		})
	})
}
