package httpapi_test

import (
	"strings"
	"testing"
)

// TestMassAssignment sends read-only and server-assigned attributes — id, meta, groups,
// schemas — in POST, PUT and PATCH, as RFC 7643 §2.2 and RFC 7644 §3.5 say: readOnly values
// in POST and PUT are ignored, PATCH of them is 400 mutability, and a resource always keeps
// the id and meta the server gave it.
func TestMassAssignment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.scim["acme"]
		group := e.must(e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{"schemas": []string{groupSchema}, "displayName": "Admins"}), 201).json()
		groupID := group["id"].(string)
		victim := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "victim@example.com"}), 201).json()
		victimID := victim["id"].(string)

		t.Run("CreateIgnoresReadOnly", func(t *testing.T) {
			r := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{
				"schemas":  []string{userSchema},
				"id":       victimID,
				"userName": "mallory@example.com",
				"meta":     map[string]any{"created": "1999-01-01T00:00:00Z", "lastModified": "1999-01-01T00:00:00Z", "version": `W/"1"`, "resourceType": "Group", "location": "https://evil.example/x"},
				"groups":   []map[string]any{{"value": groupID, "display": "Admins"}},
			}), 201)
			u := r.json()
			if u["id"] == victimID || u["id"] == "" {
				t.Errorf("the client chose the id: %v", u["id"])
			}
			meta, _ := u["meta"].(map[string]any)
			if meta["resourceType"] != "User" || strings.HasPrefix(meta["created"].(string), "1999") || strings.Contains(meta["location"].(string), "evil") {
				t.Errorf("the client set meta: %v", meta)
			}
			if gs, _ := u["groups"].([]any); len(gs) != 0 {
				t.Errorf("groups from the body made the user a member: %v", gs)
			}
			g := e.must(e.do("GET", "/scim/v2/acme/Groups/"+groupID, tok, nil), 200).json()
			if ms, _ := g["members"].([]any); len(ms) != 0 {
				t.Errorf("the group gained members through a user's groups attribute: %v", ms)
			}
			// The victim is untouched.
			v := e.must(e.do("GET", "/scim/v2/acme/Users/"+victimID, tok, nil), 200).json()
			if v["userName"] != "victim@example.com" {
				t.Errorf("the victim was overwritten: %v", v)
			}
		})
		t.Run("ReplaceIgnoresReadOnly", func(t *testing.T) {
			r := e.do("PUT", "/scim/v2/acme/Users/"+victimID, tok, map[string]any{
				"schemas":  []string{userSchema},
				"id":       "someone-else",
				"userName": "victim@example.com",
				"meta":     map[string]any{"created": "1999-01-01T00:00:00Z", "resourceType": "Group"},
				"groups":   []map[string]any{{"value": groupID}},
			})
			if r.status != 200 && r.status != 400 {
				t.Fatalf("PUT with read-only attributes: status %d: %s", r.status, r.body)
			}
			v := e.must(e.do("GET", "/scim/v2/acme/Users/"+victimID, tok, nil), 200).json()
			meta, _ := v["meta"].(map[string]any)
			if v["id"] != victimID || meta["resourceType"] != "User" || strings.HasPrefix(meta["created"].(string), "1999") {
				t.Errorf("PUT changed read-only attributes: %v", v)
			}
			if gs, _ := v["groups"].([]any); len(gs) != 0 {
				t.Errorf("PUT groups made the user a member: %v", gs)
			}
			e.must(e.do("GET", "/scim/v2/acme/Users/someone-else", tok, nil), 404)
		})
		t.Run("PatchReadOnlyIsMutability", func(t *testing.T) {
			before := e.snapshot("acme")
			for _, op := range []map[string]any{
				{"op": "replace", "path": "id", "value": "someone-else"},
				{"op": "replace", "path": "meta.created", "value": "1999-01-01T00:00:00Z"},
				{"op": "replace", "path": "meta.resourceType", "value": "Group"},
				{"op": "add", "path": "groups", "value": []map[string]any{{"value": groupID}}},
				{"op": "replace", "value": map[string]any{"id": "someone-else"}},
				{"op": "replace", "value": map[string]any{"groups": []map[string]any{{"value": groupID}}}},
				{"op": "remove", "path": "schemas"},
				{"op": "replace", "path": "schemas", "value": []string{groupSchema}},
			} {
				r := e.do("PATCH", "/scim/v2/acme/Users/"+victimID, tok, map[string]any{
					"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{op}})
				if _, hasPath := op["path"]; !hasPath && r.status == 200 {
					// A replace without a path carries a whole resource; IdPs send back
					// read-only attributes in it, and ignoring them is the interoperable
					// answer. What matters is that nothing changed (checked below).
					continue
				}
				if r.status != 400 {
					t.Errorf("PATCH %v: status %d, want 400: %s", op, r.status, r.body)
					continue
				}
				if st := r.json()["scimType"]; st != "mutability" && st != "invalidPath" && st != "invalidValue" {
					t.Errorf("PATCH %v: scimType %v: %s", op, st, r.body)
				}
			}
			if after := e.snapshot("acme"); after != before {
				t.Errorf("a refused PATCH changed the tenant")
			}
		})
		t.Run("Schemas", func(t *testing.T) {
			for name, schemas := range map[string]any{
				"GroupSchemaOnUser": []string{groupSchema},
				"NoCore":            []string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
				"NotAList":          userSchema,
				"Empty":             []string{},
			} {
				r := e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": schemas, "userName": "s-" + name + "@example.com"})
				if r.status != 400 {
					t.Errorf("%s: status %d, want 400: %s", name, r.status, r.body)
				}
			}
			// An unknown extension URN carries nothing the server stores: ignored, never echoed.
			r := e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema, "urn:evil:schema"}, "userName": "s-unknown@example.com", "urn:evil:schema": map[string]any{"admin": true}})
			if r.status != 400 && (r.status != 201 || strings.Contains(string(r.body), "evil")) {
				t.Errorf("unknown schema URN: status %d: %s", r.status, r.body)
			}
			r = e.do("POST", "/scim/v2/acme/Groups", tok, map[string]any{"schemas": []string{userSchema}, "displayName": "NotAGroup"})
			if r.status != 400 {
				t.Errorf("User schema on /Groups: status %d, want 400: %s", r.status, r.body)
			}
		})
		t.Run("ExternalID", func(t *testing.T) {
			// externalId belongs to the client and has no uniqueness (RFC 7643 §3.1): two
			// users may share one, and neither adopts the other.
			a := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "ext-a@example.com", "externalId": "00u1"}), 201).json()
			b := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "ext-b@example.com", "externalId": "00u1"}), 201).json()
			if a["id"] == b["id"] {
				t.Error("a colliding externalId adopted an existing user")
			}
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "ext-c@example.com", "externalId": 12345}), 400, "invalidValue")
			// A userName taken by case is a conflict, not an adoption of the existing account.
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "VICTIM@example.com", "externalId": "00u-evil"}), 409, "uniqueness")
			v := e.must(e.do("GET", "/scim/v2/acme/Users/"+victimID, tok, nil), 200).json()
			if v["externalId"] != nil {
				t.Errorf("the victim's externalId changed: %v", v["externalId"])
			}
		})
		t.Run("EmailIsNoAdoption", func(t *testing.T) {
			// The victim's address as another user's email, or as a rename target, never
			// reaches the victim's account: a new user is created (emails are not unique,
			// RFC 7643 §4.1.2), a rename onto the victim's userName is 409, and the log
			// names only the new user.
			before := e.must(e.do("GET", "/scim/v2/acme/Users/"+victimID, tok, nil), 200).body
			seen := len(e.auditEntries("acme"))
			m := e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": "mallory-mail@example.com",
				"emails": []map[string]any{{"value": "victim@example.com", "primary": true, "type": "work"}}}), 201).json()
			mID, _ := m["id"].(string)
			if mID == "" || mID == victimID {
				t.Fatalf("a create with the victim's email answered id %q", mID)
			}
			scimError(t, e.do("PUT", "/scim/v2/acme/Users/"+mID, tok, map[string]any{"schemas": []string{userSchema}, "userName": "Victim@Example.com"}), 409, "uniqueness")
			scimError(t, e.do("PATCH", "/scim/v2/acme/Users/"+mID, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "path": "userName", "value": "victim@example.com"}}}), 409, "uniqueness")
			if after := e.must(e.do("GET", "/scim/v2/acme/Users/"+victimID, tok, nil), 200).body; string(after) != string(before) {
				t.Errorf("the victim changed:\nbefore %s\nafter  %s", before, after)
			}
			entries := e.auditEntries("acme")[seen:]
			if len(entries) != 1 || entries[0]["action"] != "user.created" {
				t.Fatalf("entries after the attempts: %v, want one user.created", entries)
			}
			if target, _ := entries[0]["target"].(map[string]any); target["id"] != mID {
				t.Errorf("the user.created entry names %v, want the new user %s", target, mID)
			}
		})
		t.Run("GroupSelfMember", func(t *testing.T) {
			scimError(t, e.do("PATCH", "/scim/v2/acme/Groups/"+groupID, tok, addMemberPatch(groupID, "")), 400, "invalidValue")
		})
	})
}
