package httpapi_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"

func newUser(name string) map[string]any {
	return map[string]any{
		"schemas":  []string{userSchema},
		"userName": name,
		"name":     map[string]any{"givenName": "Alice", "familyName": "Smith"},
		"emails":   []any{map[string]any{"value": name, "type": "work", "primary": true}},
		"active":   true,
	}
}

// auditSeq returns the Scimtrail-Audit-Seq of a write response, failing if it is absent.
func auditSeq(t *testing.T, r resp) int64 {
	t.Helper()
	n, err := strconv.ParseInt(r.header.Get("Scimtrail-Audit-Seq"), 10, 64)
	if err != nil || n < 1 {
		t.Fatalf("Scimtrail-Audit-Seq %q on a write response", r.header.Get("Scimtrail-Audit-Seq"))
	}
	return n
}

func TestUserRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		var seqs []int64

		r := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("alice@example.com")), 201)
		seqs = append(seqs, auditSeq(t, r))
		u := r.json()
		id, _ := u["id"].(string)
		if id == "" {
			t.Fatalf("created user has no id: %s", r.body)
		}
		if got, want := r.header.Get("Content-Type"), "application/scim+json"; got != want {
			t.Errorf("Content-Type %q, want %q", got, want)
		}
		wantLoc := e.srv.URL + "/scim/v2/acme/Users/" + id
		if got := r.header.Get("Location"); got != wantLoc {
			t.Errorf("Location %q, want %q", got, wantLoc)
		}
		if got := u["meta"].(map[string]any)["location"]; got != wantLoc {
			t.Errorf("meta.location %q, want %q", got, wantLoc)
		}
		etag := r.header.Get("ETag")
		if !strings.HasPrefix(etag, `W/"`) {
			t.Fatalf("ETag %q is not a weak tag", etag)
		}

		t.Run("Get", func(t *testing.T) {
			r := e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 200)
			if diff := cmp.Diff(u, r.json()); diff != "" {
				t.Errorf("GET differs from the create response (-create +get):\n%s", diff)
			}
			if r.header.Get("ETag") != etag {
				t.Errorf("ETag %q, want %q", r.header.Get("ETag"), etag)
			}
		})
		t.Run("IfNoneMatch", func(t *testing.T) {
			r := e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil, "If-None-Match", etag)
			if r.status != 304 || len(r.body) != 0 {
				t.Errorf("status %d body %q, want 304 and no body", r.status, r.body)
			}
			e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil, "If-None-Match", `W/"999"`), 200)
		})

		var etag2 string
		t.Run("Put", func(t *testing.T) {
			body := newUser("alice@example.com")
			body["displayName"] = "Alice S."
			r := e.must(e.do("PUT", "/scim/v2/acme/Users/"+id, tok, body, "If-Match", etag), 200)
			seqs = append(seqs, auditSeq(t, r))
			if got := r.json()["displayName"]; got != "Alice S." {
				t.Errorf("displayName %v after PUT", got)
			}
			etag2 = r.header.Get("ETag")
			if etag2 == etag || etag2 == "" {
				t.Errorf("ETag %q after PUT, was %q", etag2, etag)
			}
		})
		t.Run("StaleIfMatch", func(t *testing.T) {
			before := len(e.auditSeqs("acme"))
			scimError(t, e.do("PUT", "/scim/v2/acme/Users/"+id, tok, newUser("x@example.com"), "If-Match", etag), 412, "")
			scimError(t, e.do("PATCH", "/scim/v2/acme/Users/"+id, tok, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}},
			}, "If-Match", etag), 412, "")
			scimError(t, e.do("DELETE", "/scim/v2/acme/Users/"+id, tok, nil, "If-Match", etag), 412, "")
			if after := len(e.auditSeqs("acme")); after != before {
				t.Errorf("the audit log grew from %d to %d on failed writes", before, after)
			}
			if got := e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 200).json()["userName"]; got != "alice@example.com" {
				t.Errorf("userName %v after a refused PUT", got)
			}
		})
		t.Run("Patch", func(t *testing.T) {
			r := e.must(e.do("PATCH", "/scim/v2/acme/Users/"+id, tok, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}},
			}, "If-Match", etag2), 200)
			seqs = append(seqs, auditSeq(t, r))
			if got := r.json()["active"]; got != false {
				t.Errorf("active %v after PATCH, want false; %s", got, r.body)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			r := e.must(e.do("DELETE", "/scim/v2/acme/Users/"+id, tok, nil), 204)
			seqs = append(seqs, auditSeq(t, r))
			scimError(t, e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 404, "")
			scimError(t, e.do("DELETE", "/scim/v2/acme/Users/"+id, tok, nil), 404, "")
		})
		t.Run("AuditLogMatchesReceipts", func(t *testing.T) {
			log := e.auditSeqs("acme")
			// Every receipt names an entry of the log, in increasing order; the log is
			// gap-free (auditSeqs checks) and ends with the last write.
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Errorf("receipts %v are not increasing", seqs)
				}
			}
			if len(seqs) != 4 || log[len(log)-1] != seqs[len(seqs)-1] {
				t.Errorf("receipts %v, log %v", seqs, log)
			}
		})
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachBackendOpts(t, envOptions{maxBody: 4096}, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		r := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("alice@example.com")), 201)
		id := r.json()["id"].(string)
		before := e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 200).body
		logBefore := len(e.auditSeqs("acme"))

		big := `{"userName":"bob","displayName":"` + strings.Repeat("x", 5000) + `"}`
		for _, c := range []struct {
			name, method, path string
			body               any
			headers            []string
			status             int
			scimType           string
		}{
			{"MalformedJSON", "POST", "/scim/v2/acme/Users", `{"userName":`, nil, 400, "invalidSyntax"},
			{"NotJSONContentType", "POST", "/scim/v2/acme/Users", `{"userName":"bob"}`, []string{"Content-Type", "text/plain"}, 400, "invalidSyntax"},
			{"MissingUserName", "POST", "/scim/v2/acme/Users", map[string]any{"schemas": []string{userSchema}, "displayName": "Bob"}, nil, 400, ""},
			{"WrongType", "POST", "/scim/v2/acme/Users", map[string]any{"schemas": []string{userSchema}, "userName": 42}, nil, 400, ""},
			{"UnknownAttribute", "POST", "/scim/v2/acme/Users", map[string]any{"schemas": []string{userSchema}, "userName": "bob", "favouriteColour": "teal"}, nil, 400, ""},
			{"DuplicateUserNameOtherCase", "POST", "/scim/v2/acme/Users", newUser("ALICE@example.com"), nil, 409, "uniqueness"},
			{"Oversized", "POST", "/scim/v2/acme/Users", big, nil, 413, ""},
			{"OversizedPut", "PUT", "/scim/v2/acme/Users/" + id, big, nil, 413, ""},
			{"PutMalformed", "PUT", "/scim/v2/acme/Users/" + id, `[`, nil, 400, "invalidSyntax"},
			{"PatchBadPath", "PATCH", "/scim/v2/acme/Users/" + id, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "no[such", "value": 1}},
			}, nil, 400, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(c.method, c.path, tok, c.body, c.headers...)
				want := c.scimType
				if want == "" && c.status == 400 {
					// The service picks among invalidValue, invalidSyntax and the like;
					// what matters here is the status and the shape.
					want, _ = r.json()["scimType"].(string)
				}
				scimError(t, r, c.status, want)
				if r.header.Get("Scimtrail-Audit-Seq") != "" {
					t.Errorf("a failed write carries Scimtrail-Audit-Seq %q", r.header.Get("Scimtrail-Audit-Seq"))
				}
			})
		}
		if got := e.must(e.do("GET", "/scim/v2/acme/Users/"+id, tok, nil), 200).body; string(got) != string(before) {
			t.Errorf("the user changed:\nbefore %s\nafter  %s", before, got)
		}
		if got := len(e.auditSeqs("acme")); got != logBefore {
			t.Errorf("the audit log grew from %d to %d entries on bad input", logBefore, got)
		}
		if got := e.must(e.do("GET", "/scim/v2/acme/Users", tok, nil), 200).json()["totalResults"]; got != 1.0 {
			t.Errorf("totalResults %v, want 1", got)
		}
	})
}

func TestRouterErrorsAreSCIM(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		scimError(t, e.do("GET", "/scim/v2/acme/Nope", tok, nil), 404, "")
		scimError(t, e.do("GET", "/scim/v2", tok, nil), 404, "")
		r := e.do("POST", "/scim/v2/acme/Users/u1", tok, map[string]any{})
		scimError(t, r, 405, "")
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
			t.Errorf("Allow %q on a 405", allow)
		}
		apiError(t, e.do("GET", "/api/v1/nope", tok, nil), 404, "not_found")
		apiError(t, e.do("PUT", "/api/v1/tenants", tok, nil), 405, "method_not_allowed")
	})
}

func TestGroupsAndMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		uid := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("alice@example.com")), 201).json()["id"].(string)
		r := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Engineering",
		}), 201)
		auditSeq(t, r)
		gid := r.json()["id"].(string)
		if got, want := r.header.Get("Location"), e.srv.URL+"/scim/v2/acme/Groups/"+gid; got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		r = e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+gid, tok, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}}},
		}), 200)
		auditSeq(t, r)
		members, _ := r.json()["members"].([]any)
		if len(members) != 1 || members[0].(map[string]any)["value"] != uid {
			t.Errorf("members %v after adding %s", members, uid)
		}
		u := e.must(e.do("GET", "/scim/v2/acme/Users/"+uid, tok, nil), 200).json()
		groups, _ := u["groups"].([]any)
		if len(groups) != 1 {
			t.Fatalf("user groups %v, want the one group", u["groups"])
		}
		g := groups[0].(map[string]any)
		if g["value"] != gid || g["display"] != "Engineering" {
			t.Errorf("user group %v", g)
		}
		if ref, _ := g["$ref"].(string); ref != "" && ref != e.srv.URL+"/scim/v2/acme/Groups/"+gid {
			t.Errorf("$ref %q is not the group's absolute, tenant-prefixed URL", ref)
		}
		e.must(e.do("DELETE", "/scim/v2/acme/Groups/"+gid, tok, nil), 204)
		if got := e.must(e.do("GET", "/scim/v2/acme/Users/"+uid, tok, nil), 200).json()["groups"]; got != nil && len(got.([]any)) != 0 {
			t.Errorf("user groups %v after the group was deleted", got)
		}
	})
}

// TestMembersByRef: a member sent with only its "$ref" (RFC 7643 §4.2) is the resource the
// URI names, on POST, PUT and PATCH; a $ref naming nothing in the tenant is refused.
func TestMembersByRef(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		u := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("ref@example.com")), 201).json()
		v := e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser("ref2@example.com")), 201).json()
		loc := func(m map[string]any) string { return m["meta"].(map[string]any)["location"].(string) }
		g := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "ByRef",
			"members": []any{map[string]any{"$ref": loc(u)}}}), 201).json()
		if m, _ := g["members"].([]any); len(m) != 1 || m[0].(map[string]any)["value"] != u["id"] {
			t.Fatalf("members after POST by $ref: %v", g["members"])
		}
		r := e.must(e.do("PATCH", "/scim/v2/acme/Groups/"+g["id"].(string), tok, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"$ref": loc(v)}}}},
		}), 200).json()
		if m, _ := r["members"].([]any); len(m) != 2 {
			t.Errorf("members after PATCH add by $ref: %v", r["members"])
		}
		scimError(t, e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Dangling",
			"members": []any{map[string]any{"$ref": e.srv.URL + "/scim/v2/acme/Users/no-such-user"}}}), 400, "invalidValue")
	})
}

func TestListAndSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		for i := range 5 {
			e.must(e.do("POST", "/scim/v2/acme/Users", tok, newUser(fmt.Sprintf("user%d@example.com", i))), 201)
		}
		// Another tenant's users never show up.
		e.must(e.do("POST", "/scim/v2/globex/Users", e.scim["globex"], newUser("user9@example.com")), 201)

		list := func(t *testing.T, r resp) (total, start, per int, names []string) {
			t.Helper()
			m := r.json()
			if s := m["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:ListResponse" {
				t.Errorf("schemas %v", s)
			}
			for _, res := range m["Resources"].([]any) {
				names = append(names, fmt.Sprint(res.(map[string]any)["userName"]))
			}
			return int(m["totalResults"].(float64)), int(m["startIndex"].(float64)), int(m["itemsPerPage"].(float64)), names
		}
		t.Run("Paging", func(t *testing.T) {
			total, start, per, names := list(t, e.must(e.do("GET", "/scim/v2/acme/Users?startIndex=2&count=2&sortBy=userName", tok, nil), 200))
			if total != 5 || start != 2 || per != 2 || !cmp.Equal(names, []string{"user1@example.com", "user2@example.com"}) {
				t.Errorf("total %d start %d per %d names %v", total, start, per, names)
			}
		})
		t.Run("Filter", func(t *testing.T) {
			total, _, _, names := list(t, e.must(e.do("GET", "/scim/v2/acme/Users?filter="+urlQuery(`userName eq "USER3@example.com"`), tok, nil), 200))
			if total != 1 || !cmp.Equal(names, []string{"user3@example.com"}) {
				t.Errorf("total %d names %v", total, names)
			}
		})
		t.Run("BadFilter", func(t *testing.T) {
			scimError(t, e.do("GET", "/scim/v2/acme/Users?filter="+urlQuery(`userName eq`), tok, nil), 400, "invalidFilter")
		})
		t.Run("NonIntegerCount", func(t *testing.T) {
			scimError(t, e.do("GET", "/scim/v2/acme/Users?count=ten", tok, nil), 400, "invalidValue")
			scimError(t, e.do("GET", "/scim/v2/acme/Users?startIndex=1.5", tok, nil), 400, "invalidValue")
		})
		t.Run("Search", func(t *testing.T) {
			total, _, per, names := list(t, e.must(e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
				"filter":     `userName sw "user"`,
				"sortBy":     "userName",
				"sortOrder":  "descending",
				"count":      2,
				"attributes": []string{"userName"},
			}), 200))
			if total != 5 || per != 2 || !cmp.Equal(names, []string{"user4@example.com", "user3@example.com"}) {
				t.Errorf("total %d per %d names %v", total, per, names)
			}
			scimError(t, e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{"count": "two"}), 400, "invalidValue")
			scimError(t, e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{"schemas": []string{"urn:wrong"}}), 400, "invalidSyntax")
		})
		t.Run("Attributes", func(t *testing.T) {
			r := e.must(e.do("GET", "/scim/v2/acme/Users?attributes=userName&count=1", tok, nil), 200)
			res := r.json()["Resources"].([]any)[0].(map[string]any)
			if _, ok := res["emails"]; ok {
				t.Errorf("emails returned with attributes=userName: %v", res)
			}
			if res["id"] == nil || res["userName"] == nil {
				t.Errorf("id or userName missing: %v", res)
			}
			r = e.must(e.do("POST", "/scim/v2/acme/Users?excludedAttributes=emails,name", tok, newUser("new@example.com")), 201)
			auditSeq(t, r)
			m := r.json()
			if _, ok := m["emails"]; ok {
				t.Errorf("emails returned with excludedAttributes=emails on create: %v", m)
			}
			if _, ok := m["name"]; ok {
				t.Errorf("name returned with excludedAttributes=name on create: %v", m)
			}
			if m["userName"] != "new@example.com" {
				t.Errorf("userName %v", m["userName"])
			}
		})
	})
}

func TestPublicURL(t *testing.T) {
	forEachBackendOpts(t, envOptions{publicURL: "https://scim.example.com/"}, func(t *testing.T, e *env) {
		r := e.must(e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], newUser("alice@example.com")), 201)
		want := "https://scim.example.com/scim/v2/acme/Users/" + r.json()["id"].(string)
		if got := r.header.Get("Location"); got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		if got := r.json()["meta"].(map[string]any)["location"]; got != want {
			t.Errorf("meta.location %q, want %q", got, want)
		}
	})
}

func TestDiscovery(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		spc := e.must(e.do("GET", "/scim/v2/acme/ServiceProviderConfig", tok, nil), 200).json()
		for feature, want := range map[string]bool{"patch": true, "bulk": true, "filter": true, "changePassword": false, "sort": true, "etag": true} {
			if got := spc[feature].(map[string]any)["supported"]; got != want {
				t.Errorf("%s.supported %v, want %v", feature, got, want)
			}
		}
		if b := spc["bulk"].(map[string]any); b["maxOperations"] != 1000.0 || b["maxPayloadSize"] != 1048576.0 {
			t.Errorf("bulk %v, want maxOperations 1000 and maxPayloadSize 1048576", b)
		}
		if got := spc["filter"].(map[string]any)["maxResults"]; got != 1000.0 {
			t.Errorf("filter.maxResults %v, want 1000", got)
		}
		rts := e.must(e.do("GET", "/scim/v2/acme/ResourceTypes", tok, nil), 200).json()
		if rts["totalResults"] != 2.0 {
			t.Errorf("ResourceTypes totalResults %v", rts["totalResults"])
		}
		rt := e.must(e.do("GET", "/scim/v2/acme/ResourceTypes/Group", tok, nil), 200).json()
		if rt["endpoint"] != "/Groups" {
			t.Errorf("Group endpoint %v", rt["endpoint"])
		}
		scimError(t, e.do("GET", "/scim/v2/acme/ResourceTypes/Widget", tok, nil), 404, "")
		sch := e.must(e.do("GET", "/scim/v2/acme/Schemas", tok, nil), 200).json()
		if sch["totalResults"] != 3.0 {
			t.Errorf("Schemas totalResults %v, want 3 (User, Group, EnterpriseUser)", sch["totalResults"])
		}
		one := e.must(e.do("GET", "/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", tok, nil), 200).json()
		if got, want := one["meta"].(map[string]any)["location"], e.srv.URL+"/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"; got != want {
			t.Errorf("schema meta.location %v, want %v", got, want)
		}
		scimError(t, e.do("GET", "/scim/v2/acme/Schemas/urn:nope", tok, nil), 404, "")
	})
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40").Replace(s)
}
