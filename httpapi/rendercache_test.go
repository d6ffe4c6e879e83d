package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRenderCacheNeverServesStale reads one user over and over while what its document
// shows changes in every way that does and does not bump its version: its own attributes,
// the groups that contain it, a containing group's name, the projection asked for and the
// host it is read through. Each read must show the current state.
func TestRenderCacheNeverServesStale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		u := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@example.com",
			"name": map[string]any{"givenName": "Alice"},
		}), 201).json()
		id := u["id"].(string)
		get := func(query string, headers ...string) map[string]any {
			t.Helper()
			return e.must(e.do("GET", "/scim/v2/acme/Users/"+id+query, tok, nil, headers...), 200).json()
		}
		groupsOf := func(doc map[string]any) string {
			var names []string
			gs, _ := doc["groups"].([]any)
			for _, g := range gs {
				names = append(names, g.(map[string]any)["display"].(string))
			}
			return strings.Join(names, ",")
		}
		get("")
		get("") // the second read is the cached one

		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+id, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":"Alicia"}]}`), 200)
		if doc := get(""); doc["name"].(map[string]any)["givenName"] != "Alicia" {
			t.Fatalf("after PATCH: name %v, want givenName Alicia", doc["name"])
		}

		// Membership changes do not bump the user's version.
		g := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineers",
			"members": []map[string]any{{"value": id}},
		}), 201).json()
		gid := g["id"].(string)
		if got := groupsOf(get("")); got != "Engineers" {
			t.Fatalf("after joining a group: groups %q, want Engineers", got)
		}
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+gid, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Platform"}]}`), 200)
		if got := groupsOf(get("")); got != "Platform" {
			t.Fatalf("after the group's rename: groups %q, want Platform", got)
		}
		// The list shows the same current state.
		l := e.must(e.do("GET", "/scim/v2/acme/Users?filter="+strings.ReplaceAll(`userName eq "alice@example.com"`, " ", "%20"), tok, nil), 200).json()
		if rs := l["Resources"].([]any); len(rs) != 1 || groupsOf(rs[0].(map[string]any)) != "Platform" {
			t.Fatalf("list after the rename: %v", l["Resources"])
		}
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+gid, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+id+`\"]"}]}`), 200)
		if got := groupsOf(get("")); got != "" {
			t.Fatalf("after leaving the group: groups %q, want none", got)
		}

		// The projection and the host are part of what was rendered.
		if doc := get("?attributes=userName"); doc["name"] != nil || doc["userName"] != "alice@example.com" {
			b, _ := json.Marshal(doc)
			t.Fatalf("attributes=userName: %s", b)
		}
		if doc := get(""); doc["name"] == nil {
			t.Fatal("a full read after a projected one lost name")
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/scim/v2/acme/Users/"+id, nil)
		req.Host = "scim.example.net"
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Meta struct{ Location string }
		}
		err = json.NewDecoder(res.Body).Decode(&doc)
		res.Body.Close()
		if err != nil || !strings.HasPrefix(doc.Meta.Location, "http://scim.example.net/") {
			t.Fatalf("meta.location %q through another host (%v)", doc.Meta.Location, err)
		}
	})
}

// TestListPagesNeverServeStale pages through users whose documents the render cache holds
// (a list takes those without reading their rows) while they change in ways that do and do
// not bump their versions; every page must show each user's current givenName and groups
// (as the test tracks them), and equal the same user read alone.
func TestListPagesNeverServeStale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var ids []string
		for i := range 12 {
			u := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "user" + strconvItoa(i) + "@example.com",
				"name": map[string]any{"givenName": "G" + strconvItoa(i)},
			}), 201).json()
			ids = append(ids, u["id"].(string))
		}
		given := map[string]string{}
		groups := map[string]string{}
		for i, id := range ids {
			given[id] = "G" + strconvItoa(i)
		}
		check := func(step string) {
			t.Helper()
			// The projection is part of a cached entry, so a round starts and ends with
			// unprojected reads: the next round's first page meets entries that only their
			// refs (or version) can make stale.
			for _, query := range []string{"startIndex=1&count=5", "count=100&excludedAttributes=groups", "startIndex=4&count=5", "startIndex=9&count=5", "count=100"} {
				for range 2 { // the second time from the cache
					l := e.must(e.do("GET", "/scim/v2/acme/Users?"+query, tok, nil), 200).json()
					for _, r := range l["Resources"].([]any) {
						got := r.(map[string]any)
						id := got["id"].(string)
						var names []string
						gs, _ := got["groups"].([]any)
						for _, g := range gs {
							names = append(names, g.(map[string]any)["display"].(string))
						}
						wantGroups := groups[id]
						if strings.Contains(query, "excludedAttributes") {
							wantGroups = ""
						}
						if g := got["name"].(map[string]any)["givenName"]; g != given[id] || strings.Join(names, ",") != wantGroups {
							t.Fatalf("%s, %s: user %s has givenName %v, groups %v; want %s, %q", step, query, id, g, names, given[id], wantGroups)
						}
						q := ""
						if strings.Contains(query, "excludedAttributes") {
							q = "?excludedAttributes=groups"
						}
						want := e.must(e.do("GET", "/scim/v2/acme/Users/"+got["id"].(string)+q, tok, nil), 200).json()
						gb, _ := json.Marshal(got)
						wb, _ := json.Marshal(want)
						if string(gb) != string(wb) {
							t.Fatalf("%s, %s: list shows\n%s\nGET shows\n%s", step, query, gb, wb)
						}
					}
				}
			}
		}
		check("created")
		e.must(e.do("PATCH", "/scim/v2/acme/Users/"+ids[5], tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":"Changed"}]}`), 200)
		given[ids[5]] = "Changed"
		check("after a PATCH")
		g := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineers",
			"members": []map[string]any{{"value": ids[1]}, {"value": ids[6]}, {"value": ids[10]}},
		}), 201).json()
		for _, i := range []int{1, 6, 10} {
			groups[ids[i]] = "Engineers"
		}
		check("after joining a group")
		e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+g["id"].(string), tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Platform"}]}`), 200)
		for _, i := range []int{1, 6, 10} {
			groups[ids[i]] = "Platform"
		}
		check("after the group's rename")
		e.must(e.do("DELETE", "/scim/v2/acme/Users/"+ids[2], tok, nil), 204)
		check("after a delete")
	})
}
