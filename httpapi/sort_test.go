package httpapi_test

import (
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/service"
)

func sortUsers() []map[string]any {
	mk := func(name, family, dept string, emails ...any) map[string]any {
		u := map[string]any{"schemas": []string{userURN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName": name, "name": map[string]any{"familyName": family}, "emails": emails}
		if dept != "" {
			u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"department": dept}
		}
		return u
	}
	return []map[string]any{
		mk("u1", "young", "Sales", map[string]any{"value": "zed@x.com"}, map[string]any{"value": "b@x.com", "primary": true}),
		mk("u2", "Adams", "", map[string]any{"value": "c@x.com"}),
		mk("u3", "baker", "Eng", map[string]any{"value": "a@x.com"}, map[string]any{"value": "y@x.com"}),
	}
}

// TestSortByAnyAttribute (RFC 7644 §3.4.2.3): sub-attributes, extension attributes and
// multi-valued attributes (by the primary, else the first, value) sort in memory, with
// filter, sortOrder, startIndex and count applied; unknown attributes are invalidValue.
func TestSortByAnyAttribute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		for _, u := range sortUsers() {
			e.must(e.do("POST", "/scim/v2/acme/Users", tok, u), 201)
		}
		names := func(q string) string {
			t.Helper()
			r := e.must(e.do("GET", "/scim/v2/acme/Users?"+q, tok, nil), 200)
			var out []string
			for _, x := range r.json()["Resources"].([]any) {
				out = append(out, x.(map[string]any)["userName"].(string))
			}
			return strings.Join(out, ",")
		}
		for _, c := range []struct{ q, want string }{
			{"sortBy=name.familyName", "u2,u3,u1"},
			{"sortBy=name.familyName&sortOrder=descending", "u1,u3,u2"},
			{"sortBy=emails", "u3,u1,u2"},       // a@ (first), b@ (primary), c@
			{"sortBy=emails.value", "u3,u1,u2"}, // the same
			{"sortBy=" + url.QueryEscape("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), "u3,u1,u2"},
			{"sortBy=" + url.QueryEscape("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department") + "&sortOrder=descending", "u1,u3,u2"},
			{"sortBy=name.familyName&startIndex=2&count=1", "u3"},
			{"sortBy=name.familyName&filter=" + url.QueryEscape(`userName ne "u2"`), "u3,u1"},
		} {
			if got := names(c.q); got != c.want {
				t.Errorf("%s: %s, want %s", c.q, got, c.want)
			}
		}
		r := e.must(e.do("GET", "/scim/v2/acme/Users?sortBy=name.familyName&count=0", tok, nil), 200)
		if r.json()["totalResults"] != float64(3) {
			t.Errorf("count=0 totalResults %v", r.json()["totalResults"])
		}
		for _, bad := range []string{"shoeSize", "name", "password"} {
			scimError(t, e.do("GET", "/scim/v2/acme/Users?sortBy="+bad, tok, nil), 400, "invalidValue")
		}
		scimError(t, e.do("GET", "/scim/v2/acme/Users?cursor&sortBy=name.familyName", tok, nil), 400, "invalidValue")
		r = e.must(e.do("GET", "/scim/v2/acme/ServiceProviderConfig", tok, nil), 200)
		if !strings.Contains(string(r.body), `"sort":{"supported":true}`) {
			t.Errorf("ServiceProviderConfig: %s", r.body)
		}
	})
}

// TestSortCap: an in-memory sort over more matches than the cap is a clear 400 that says
// how to narrow it; a filter under the cap works; indexed sorts have no cap.
func TestSortCap(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t, nil)
			svc := service.New(store, service.Options{MaxSortMatches: 2})
			srv := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler)}))
			t.Cleanup(srv.Close)
			op, _, _ := svc.Bootstrap(t.Context(), "")
			send(t, "POST", srv.URL+"/api/v1/tenants", op, "", map[string]any{"id": "acme", "name": "Acme"})
			for _, u := range sortUsers() {
				if st, _, body := send(t, "POST", srv.URL+"/scim/v2/acme/Users", op, "", u); st != 201 {
					t.Fatalf("create: %d %s", st, body)
				}
			}
			st, _, body := send(t, "GET", srv.URL+"/scim/v2/acme/Users?sortBy=name.familyName", op, "", nil)
			if st != 400 || !strings.Contains(string(body), "at most 2 matches") || !strings.Contains(string(body), "filter") {
				t.Errorf("over the cap: %d %s", st, body)
			}
			q := "/scim/v2/acme/Users?sortBy=name.familyName&filter=" + url.QueryEscape(`userName ne "u2"`)
			if st, _, body := send(t, "GET", srv.URL+q, op, "", nil); st != 200 || !strings.Contains(string(body), `"totalResults":2`) {
				t.Errorf("filtered under the cap: %d %s", st, body)
			}
			if st, _, body := send(t, "GET", srv.URL+"/scim/v2/acme/Users?sortBy=userName", op, "", nil); st != 200 {
				t.Errorf("indexed sort: %d %s", st, body)
			}
		})
	}
}

// TestWriteResponseProjection (RFC 7644 §3.9): attributes and excludedAttributes shape the
// resource that POST, PUT and PATCH answer with, as they do GET.
func TestWriteResponseProjection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		u := sortUsers()[0]
		r := e.must(e.do("POST", "/scim/v2/acme/Users?attributes=userName", tok, u), 201)
		m := r.json()
		if m["userName"] != "u1" || m["id"] == nil || m["emails"] != nil || m["name"] != nil {
			t.Errorf("POST ?attributes=userName: %s", r.body)
		}
		id := m["id"].(string)
		r = e.must(e.do("PUT", "/scim/v2/acme/Users/"+id+"?excludedAttributes=emails,name", tok, u), 200)
		if m := r.json(); m["emails"] != nil || m["name"] != nil || m["userName"] != "u1" {
			t.Errorf("PUT ?excludedAttributes=emails,name: %s", r.body)
		}
		r = e.must(e.do("PATCH", "/scim/v2/acme/Users/"+id+"?attributes=name.familyName", tok, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "name.familyName", "value": "Zed"}}}), 200)
		if m := r.json(); m["userName"] != nil || m["name"].(map[string]any)["familyName"] != "Zed" || m["id"] != id {
			t.Errorf("PATCH ?attributes=name.familyName: %s", r.body)
		}
		r = e.must(e.do("POST", "/scim/v2/acme/Groups?excludedAttributes=members", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g",
			"members": []any{map[string]any{"value": id}}}), 201)
		if m := r.json(); m["members"] != nil || m["displayName"] != "g" {
			t.Errorf("POST Group ?excludedAttributes=members: %s", r.body)
		}
		// A group PUT or PATCH that leaves members out reads none for its answer; the
		// change, the version and the members a later GET shows are the same.
		gid := r.json()["id"].(string)
		other := e.must(e.do("POST", "/scim/v2/acme/Users", tok, sortUsers()[1]), 201).json()["id"].(string)
		r = e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+gid+"?excludedAttributes=members", tok, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": other}}}}}), 200)
		if m := r.json(); m["members"] != nil || m["displayName"] != "g" || r.header.Get("ETag") != `W/"2"` {
			t.Errorf("PATCH Group ?excludedAttributes=members: %s (ETag %s)", r.body, r.header.Get("ETag"))
		}
		r = e.must(e.do("PUT", "/scim/v2/acme/Groups/"+gid+"?attributes=displayName", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "g2",
			"members": []any{map[string]any{"value": id}, map[string]any{"value": other}}}), 200)
		if m := r.json(); m["members"] != nil || m["displayName"] != "g2" || r.header.Get("ETag") != `W/"3"` {
			t.Errorf("PUT Group ?attributes=displayName: %s (ETag %s)", r.body, r.header.Get("ETag"))
		}
		r = e.must(e.do("GET", "/scim/v2/acme/Groups/"+gid, tok, nil), 200)
		if ms, _ := r.json()["members"].([]any); len(ms) != 2 {
			t.Errorf("GET after the writes: %s, want both members", r.body)
		}
	})
}
