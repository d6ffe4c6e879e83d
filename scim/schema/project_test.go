package schema_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// storedUser is a resource as the service renders it before projection: the RFC 7643 §8.2
// user with the enterprise extension of §8.3 and a password that must never leave.
func storedUser(tb testing.TB) map[string]any {
	tb.Helper()
	return decode(tb, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"id": "2819c223-7f76-453a-919d-413861904646",
		"externalId": "701984",
		"userName": "bjensen@example.com",
		"password": "t1meMa$heen",
		"name": {"familyName": "Jensen", "givenName": "Barbara"},
		"displayName": "Babs Jensen",
		"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
		"groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
			"employeeNumber": "701984", "department": "Tour Operations",
			"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
		},
		"meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "version": "W/\"3694e05e9dff591\""}
	}`)
}

func TestProject(t *testing.T) {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	full := storedUser(t)
	withoutPassword := storedUser(t)
	delete(withoutPassword, "password")
	tests := []struct {
		name               string
		attributes, exclud []string
		want               string
	}{
		{"Default", nil, nil, ""}, // withoutPassword
		// RFC 7644 §3.4.2.5: "attributes" overrides the default list; returned "always"
		// attributes (id, and schemas) are there anyway.
		{"UserNameOnly", []string{"userName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com"}`},
		{"CaseInsensitive", []string{"USERNAME", "DisplayName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com", "displayName": "Babs Jensen"}`},
		{"CoreURNQualified", []string{"urn:ietf:params:scim:schemas:core:2.0:User:userName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com"}`},
		{"WholeMultiValued", []string{"emails"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646",
			  "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}]}`},
		{"SubAttribute", []string{"name.familyName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "name": {"familyName": "Jensen"}}`},
		{"MultiValuedSubAttribute", []string{"emails.value", "meta.created"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646",
			  "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}],
			  "meta": {"created": "2010-01-23T04:56:22Z"}}`},
		{"SubAttributeAndWhole", []string{"name.familyName", "name"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "name": {"familyName": "Jensen", "givenName": "Barbara"}}`},
		{"ExtensionAttribute", []string{ent + ":employeeNumber"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "` + ent + `": {"employeeNumber": "701984"}}`},
		{"ExtensionSubAttribute", []string{"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:manager.displayName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "` + ent + `": {"manager": {"displayName": "John Smith"}}}`},
		{"WholeExtension", []string{ent}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646",
			  "` + ent + `": {"employeeNumber": "701984", "department": "Tour Operations",
			     "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}}}`},
		// returned "never" (password) is never returned, even when asked for.
		{"PasswordNeverReturned", []string{"password", "userName"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com"}`},
		// Unknown names are ignored rather than failing the request.
		{"UnknownNamesIgnored", []string{"shoeSize", "name.shoeSize", "urn:example:x:y"}, nil,
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646"}`},
		// RFC 7644 §3.4.2.5 excludedAttributes: "always" attributes cannot be excluded.
		{"ExcludeAlwaysIgnored", nil, []string{"id", "schemas", "emails", "meta", "groups", ent, "name.givenName", "externalId"},
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com",
			  "name": {"familyName": "Jensen"}, "displayName": "Babs Jensen"}`},
		{"ExcludeSubOfMultiValued", nil, []string{"EMAILS.TYPE", "emails.primary", "name", "groups", "meta", ent + ":manager", "displayName"},
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646", "externalId": "701984", "userName": "bjensen@example.com",
			  "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}],
			  "` + ent + `": {"employeeNumber": "701984", "department": "Tour Operations"}}`},
		// Excluding every sub-attribute leaves nothing, and the attribute goes.
		{"ExcludeAllSubs", []string{"name.givenName"}, []string{"name.givenName"},
			`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "id": "2819c223-7f76-453a-919d-413861904646"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := withoutPassword
			if tt.want != "" {
				want = decode(t, tt.want)
			}
			got := schema.User().Project(full, tt.attributes, tt.exclud)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Project(%q, %q) (-want +got):\n%s", tt.attributes, tt.exclud, diff)
			}
		})
	}
	if diff := cmp.Diff(storedUser(t), full); diff != "" {
		t.Fatalf("Project modified its input (-before +after):\n%s", diff)
	}
}

// The result shares nothing with the input: changing it leaves the stored document alone.
func TestProjectCopies(t *testing.T) {
	in := storedUser(t)
	out := schema.User().Project(in, nil, nil)
	out["emails"].([]any)[0].(map[string]any)["value"] = "changed"
	out["name"].(map[string]any)["familyName"] = "changed"
	out["schemas"].([]any)[0] = "changed"
	if diff := cmp.Diff(storedUser(t), in); diff != "" {
		t.Fatalf("changing the projection changed the input (-want +got):\n%s", diff)
	}
}

// A returned "request" attribute appears only when named (RFC 7643 §2.2).
func TestProjectReturnedRequest(t *testing.T) {
	rt := schema.Group()
	rt.Schema.Attributes = append(rt.Schema.Attributes,
		schema.Attribute{Name: "secretNote", Type: "string", Mutability: schema.ReadWrite, Returned: schema.ReturnedRequest},
		schema.Attribute{Name: "tags", Type: "complex", MultiValued: true, Mutability: schema.ReadWrite, Returned: schema.ReturnedDefault,
			SubAttributes: []schema.Attribute{
				{Name: "value", Type: "string", Returned: schema.ReturnedDefault},
				{Name: "key", Type: "string", Returned: schema.ReturnedAlways},
				{Name: "internal", Type: "string", Returned: schema.ReturnedRequest},
				{Name: "hidden", Type: "string", Returned: schema.ReturnedNever},
			}},
	)
	doc := decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"G","secretNote":"s",
		"tags":[{"value":"v","key":"k","internal":"i","hidden":"h","extra":"x"}, "not-an-object"],"unmodelled":1}`)
	for _, tt := range []struct {
		name                 string
		attributes, excluded []string
		want                 string
	}{
		{"Default", nil, nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"G",
			"tags":[{"value":"v","key":"k","extra":"x"}, "not-an-object"],"unmodelled":1}`},
		{"Named", []string{"secretNote"}, nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","secretNote":"s"}`},
		{"NamedSub", []string{"tags.internal"}, nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1",
			"tags":[{"key":"k","internal":"i"}, "not-an-object"]}`},
		{"ExcludedSub", nil, []string{"tags.value", "displayName"}, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1",
			"tags":[{"key":"k","extra":"x"}, "not-an-object"],"unmodelled":1}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rt.Project(doc, tt.attributes, tt.excluded)
			if diff := cmp.Diff(decode(t, tt.want), got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
