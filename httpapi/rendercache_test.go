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
