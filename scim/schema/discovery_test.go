package schema_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// roundTrip renders a document as the HTTP layer would and decodes it again, so tests
// compare JSON, not Go types.
func roundTrip(tb testing.TB, doc map[string]any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, string(b))
}

const base = "https://scim.example.com/scim/v2/acme"

func TestServiceProviderConfig(t *testing.T) {
	got := roundTrip(t, schema.ServiceProviderConfig(base, schema.Capabilities{
		Patch: true, Bulk: true, Filter: true, ETag: true,
		MaxResults: 200, BulkMaxOperations: 1000, BulkMaxPayloadSize: 1048576,
		DocumentationURI: "https://docs.example.com/scim",
	}))
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
		"documentationUri": "https://docs.example.com/scim",
		"patch": {"supported": true},
		"bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576},
		"filter": {"supported": true, "maxResults": 200},
		"changePassword": {"supported": false},
		"sort": {"supported": false},
		"etag": {"supported": true},
		"authenticationSchemes": [{"type": "oauthbearertoken", "name": "Bearer token",
			"description": "Authentication with a bearer token issued by scimtrail for the tenant.",
			"specUri": "https://www.rfc-editor.org/info/rfc6750", "primary": true}],
		"meta": {"resourceType": "ServiceProviderConfig", "location": "https://scim.example.com/scim/v2/acme/ServiceProviderConfig"}
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if _, ok := schema.ServiceProviderConfig(base, schema.Capabilities{})["documentationUri"]; ok {
		t.Fatal("documentationUri rendered without a URI")
	}
}

// RFC 7643 §8.6 shows the User and Group resource types.
func TestResourceTypeDocument(t *testing.T) {
	got := roundTrip(t, schema.User().Document(base))
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
		"id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
		"schema": "urn:ietf:params:scim:schemas:core:2.0:User",
		"schemaExtensions": [{"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false}],
		"meta": {"resourceType": "ResourceType", "location": "https://scim.example.com/scim/v2/acme/ResourceTypes/User"}
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	g := roundTrip(t, schema.Group().Document(base))
	if _, ok := g["schemaExtensions"]; ok || g["endpoint"] != "/Groups" || g["schema"] != schema.GroupSchema {
		t.Fatalf("Group resource type = %v", g)
	}
}

// RFC 7643 §8.7.1 representation: every characteristic of every attribute.
func TestSchemaDocument(t *testing.T) {
	doc := roundTrip(t, schema.CoreGroup().Document(base))
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
		"id": "urn:ietf:params:scim:schemas:core:2.0:Group", "name": "Group", "description": "Group",
		"meta": {"resourceType": "Schema", "location": "https://scim.example.com/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"},
		"attributes": [
			{"name": "displayName", "type": "string", "multiValued": false, "description": "A human-readable name for the Group.",
			 "required": true, "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"},
			{"name": "members", "type": "complex", "multiValued": true, "description": "A list of members of the Group.",
			 "required": false, "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
			 "subAttributes": [
				{"name": "value", "type": "string", "multiValued": false, "description": "Identifier of the member of this Group.",
				 "required": false, "caseExact": false, "mutability": "immutable", "returned": "default", "uniqueness": "none"},
				{"name": "$ref", "type": "reference", "referenceTypes": ["User", "Group"], "multiValued": false,
				 "description": "The URI corresponding to a SCIM resource that is a member of this Group.",
				 "required": false, "caseExact": false, "mutability": "immutable", "returned": "default", "uniqueness": "none"},
				{"name": "type", "type": "string", "multiValued": false, "description": "A label indicating the type of resource, e.g., 'User' or 'Group'.",
				 "required": false, "caseExact": false, "canonicalValues": ["User", "Group"], "mutability": "immutable", "returned": "default", "uniqueness": "none"},
				{"name": "display", "type": "string", "multiValued": false, "description": "A human-readable name of the member.",
				 "required": false, "caseExact": false, "mutability": "readOnly", "returned": "default", "uniqueness": "none"}
			 ]}
		]
	}`)
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}

	// Spot checks of the User schema against §8.7.1.
	user := roundTrip(t, schema.CoreUser().Document(base))
	attrs := map[string]map[string]any{}
	for _, a := range user["attributes"].([]any) {
		m := a.(map[string]any)
		attrs[m["name"].(string)] = m
	}
	for name, want := range map[string]map[string]any{
		"userName":   {"required": true, "uniqueness": "server", "caseExact": false},
		"password":   {"mutability": "writeOnly", "returned": "never"},
		"groups":     {"mutability": "readOnly", "multiValued": true},
		"profileUrl": {"type": "reference"},
	} {
		for k, v := range want {
			if attrs[name][k] != v {
				t.Errorf("User %s.%s = %v; want %v", name, k, attrs[name][k], v)
			}
		}
	}
	if rt := attrs["profileUrl"]["referenceTypes"]; !cmp.Equal(rt, []any{"external"}) {
		t.Errorf("profileUrl.referenceTypes = %v", rt)
	}
	if len(attrs) != 21 {
		t.Errorf("User schema document has %d attributes, want 21", len(attrs))
	}
	ent := roundTrip(t, schema.EnterpriseUser().Document(base))
	if ent["id"] != schema.EnterpriseUserSchema || len(ent["attributes"].([]any)) != 6 {
		t.Errorf("enterprise schema = %v", ent)
	}
}
