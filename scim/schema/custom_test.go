package schema_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/scim/schema"
)

// TestCustomExtensionRoundTrip: the stored Definition parses back to the same extension,
// with RFC 7643 §2.2 defaults filled in.
func TestCustomExtensionRoundTrip(t *testing.T) {
	ext, err := schema.ParseCustomExtension([]byte(`{"id":"urn:example:ext:User","resourceType":"user","attributes":[
		{"name":"badge","type":"integer","uniqueness":"server"},
		{"name":"site","type":"reference"},
		{"name":"ids","type":"complex","multiValued":true,"subAttributes":[{"name":"value","type":"string","caseExact":true}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if ext.ResourceType != "User" || ext.Schema.Name != "User" {
		t.Errorf("resourceType %q, name %q", ext.ResourceType, ext.Schema.Name)
	}
	a := ext.Schema.Attributes[0]
	if a.Mutability != schema.ReadWrite || a.Returned != schema.ReturnedDefault || a.Uniqueness != schema.UniquenessServer {
		t.Errorf("defaults not applied: %+v", a)
	}
	if got := ext.Schema.Attributes[1].ReferenceTypes; len(got) != 1 || got[0] != "external" {
		t.Errorf("referenceTypes %v, want [external]", got)
	}
	again, err := schema.ParseCustomExtension(ext.Definition())
	if err != nil {
		t.Fatalf("Definition does not parse back: %v\n%s", err, ext.Definition())
	}
	if diff := cmp.Diff(ext, again); diff != "" {
		t.Errorf("round trip (-first +again):\n%s", diff)
	}
	for _, bad := range []string{
		`{"id":"urn:example:x","resourceType":"User","attributes":[{"name":"c","type":"complex","subAttributes":[{"name":"d","type":"complex","subAttributes":[{"name":"e","type":"string"}]}]}]}`,
		`{"id":"urn:example:x","resourceType":"User","attributes":[{"name":"w","type":"string","mutability":"writeOnly"}]}`,
		`{"id":"urn:example:x","resourceType":"User","attributes":[{"name":"u","type":"string","multiValued":true,"uniqueness":"server"}]}`,
		`{"id":"urn:example:x","resourceType":"User","attributes":[{"name":"n","type":"integer","canonicalValues":["1"]}]}`,
		`{"id":"urn:ietf:params:scim:schemas:extension:mine:User","resourceType":"User","attributes":[{"name":"a","type":"string"}]}`,
	} {
		if _, err := schema.ParseCustomExtension([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
