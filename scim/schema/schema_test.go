package schema_test

import (
	"testing"

	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// The resource types must satisfy the filter package's contract.
var _ filter.Schema = (*schema.ResourceType)(nil)

func TestAttribute(t *testing.T) {
	user, group := schema.User(), schema.Group()
	tests := []struct {
		name string
		rt   *schema.ResourceType
		path filter.AttrPath
		want filter.AttrInfo
		ok   bool
	}{
		{"UserNameCaseInsensitive", user, filter.AttrPath{Attr: "USERNAME"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"UserNameCoreURN", user, filter.AttrPath{URN: "urn:ietf:params:scim:schemas:core:2.0:user", Attr: "userName"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"IDCaseExact", user, filter.AttrPath{Attr: "id"}, filter.AttrInfo{Type: filter.TypeString, CaseExact: true}, true},
		{"ExternalIDCaseExact", group, filter.AttrPath{Attr: "externalId"}, filter.AttrInfo{Type: filter.TypeString, CaseExact: true}, true},
		{"MetaCreated", user, filter.AttrPath{Attr: "meta", Sub: "created"}, filter.AttrInfo{Type: filter.TypeDateTime}, true},
		{"MetaLastModified", group, filter.AttrPath{Attr: "meta", Sub: "LASTMODIFIED"}, filter.AttrInfo{Type: filter.TypeDateTime}, true},
		{"MetaVersion", user, filter.AttrPath{Attr: "meta", Sub: "version"}, filter.AttrInfo{Type: filter.TypeString, CaseExact: true}, true},
		{"MetaResourceType", user, filter.AttrPath{Attr: "meta", Sub: "resourceType"}, filter.AttrInfo{Type: filter.TypeString, CaseExact: true}, true},
		{"MetaLocation", user, filter.AttrPath{Attr: "meta", Sub: "location"}, filter.AttrInfo{Type: filter.TypeString, CaseExact: true}, true},
		{"Emails", user, filter.AttrPath{Attr: "emails"}, filter.AttrInfo{Type: filter.TypeComplex, MultiValued: true}, true},
		{"EmailsValue", user, filter.AttrPath{Attr: "emails", Sub: "value"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"EmailsPrimary", user, filter.AttrPath{Attr: "emails", Sub: "primary"}, filter.AttrInfo{Type: filter.TypeBoolean}, true},
		{"Active", user, filter.AttrPath{Attr: "active"}, filter.AttrInfo{Type: filter.TypeBoolean}, true},
		{"X509Binary", user, filter.AttrPath{Attr: "x509Certificates", Sub: "value"}, filter.AttrInfo{Type: filter.TypeBinary, CaseExact: true}, true},
		{"EnterpriseQualified", user, filter.AttrPath{URN: schema.EnterpriseUserSchema, Attr: "employeeNumber"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"EnterpriseManagerValue", user, filter.AttrPath{URN: schema.EnterpriseUserSchema, Attr: "manager", Sub: "value"}, filter.AttrInfo{Type: filter.TypeString}, true},
		// Unqualified names resolve in the core schema only (RFC 7644 §3.10), so the
		// evaluator never looks for an extension value at the top level.
		{"EnterpriseUnqualified", user, filter.AttrPath{Attr: "employeeNumber"}, filter.AttrInfo{}, false},
		{"CoreAttrUnderExtensionURN", user, filter.AttrPath{URN: schema.EnterpriseUserSchema, Attr: "userName"}, filter.AttrInfo{}, false},
		{"UnknownURN", user, filter.AttrPath{URN: "urn:example:x", Attr: "userName"}, filter.AttrInfo{}, false},
		{"Unknown", user, filter.AttrPath{Attr: "shoeSize"}, filter.AttrInfo{}, false},
		{"UnknownSub", user, filter.AttrPath{Attr: "emails", Sub: "shoeSize"}, filter.AttrInfo{}, false},
		{"SubOfSimple", user, filter.AttrPath{Attr: "userName", Sub: "value"}, filter.AttrInfo{}, false},
		{"GroupDisplayName", group, filter.AttrPath{Attr: "displayname"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"GroupMembersValue", group, filter.AttrPath{Attr: "members", Sub: "value"}, filter.AttrInfo{Type: filter.TypeString}, true},
		{"GroupHasNoUserName", group, filter.AttrPath{Attr: "userName"}, filter.AttrInfo{}, false},
		{"GroupHasNoEnterprise", group, filter.AttrPath{URN: schema.EnterpriseUserSchema, Attr: "employeeNumber"}, filter.AttrInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.rt.Attribute(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("Attribute(%v) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// RFC 7643 §8.7.1 lists these characteristics; the PATCH and service code depend on them.
func TestLookupCharacteristics(t *testing.T) {
	user, group := schema.User(), schema.Group()
	tests := []struct {
		name                                string
		rt                                  *schema.ResourceType
		urn, attr, sub                      string
		mutability, returned, uniqueness    string
		required, multiValued, caseExactVal bool
	}{
		{"UserName", user, "", "userName", "", schema.ReadWrite, schema.ReturnedDefault, schema.UniquenessServer, true, false, false},
		{"ID", user, "", "id", "", schema.ReadOnly, schema.ReturnedAlways, schema.UniquenessServer, true, false, true},
		{"ExternalID", user, "", "externalId", "", schema.ReadWrite, schema.ReturnedDefault, schema.UniquenessNone, false, false, true},
		{"Meta", user, "", "meta", "", schema.ReadOnly, schema.ReturnedDefault, schema.UniquenessNone, false, false, false},
		{"Password", user, "", "password", "", schema.WriteOnly, schema.ReturnedNever, schema.UniquenessNone, false, false, false},
		{"Groups", user, "", "groups", "", schema.ReadOnly, schema.ReturnedDefault, schema.UniquenessNone, false, true, false},
		{"GroupsDisplay", user, "", "groups", "display", schema.ReadOnly, schema.ReturnedDefault, schema.UniquenessNone, false, false, false},
		{"Emails", user, schema.UserSchema, "emails", "", schema.ReadWrite, schema.ReturnedDefault, schema.UniquenessNone, false, true, false},
		{"Manager", user, schema.EnterpriseUserSchema, "manager", "displayName", schema.ReadOnly, schema.ReturnedDefault, schema.UniquenessNone, false, false, false},
		{"GroupDisplayName", group, "", "displayName", "", schema.ReadWrite, schema.ReturnedDefault, schema.UniquenessNone, true, false, false},
		{"MembersValue", group, "", "members", "value", schema.Immutable, schema.ReturnedDefault, schema.UniquenessNone, false, false, false},
		{"MembersDisplay", group, "", "members", "display", schema.ReadOnly, schema.ReturnedDefault, schema.UniquenessNone, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := tt.rt.Lookup(tt.urn, tt.attr, tt.sub)
			if !ok {
				t.Fatalf("Lookup(%q, %q, %q) not found", tt.urn, tt.attr, tt.sub)
			}
			if a.Mutability != tt.mutability || a.Returned != tt.returned || a.Uniqueness != tt.uniqueness ||
				a.Required != tt.required || a.MultiValued != tt.multiValued || a.CaseExact != tt.caseExactVal {
				t.Fatalf("Lookup(%q, %q, %q) = %+v", tt.urn, tt.attr, tt.sub, *a)
			}
		})
	}
	typ, ok := group.Lookup("", "members", "type")
	if !ok || len(typ.CanonicalValues) != 2 || typ.CanonicalValues[0] != "User" || typ.CanonicalValues[1] != "Group" {
		t.Fatalf("members.type canonical values = %+v", typ)
	}
	if _, ok := user.Lookup("", "schemas", ""); ok {
		t.Fatal("schemas is not an attribute and must not resolve")
	}
}

// Constructors return fresh values: changing one must not show in the next.
func TestConstructorsAreFresh(t *testing.T) {
	a := schema.User()
	a.Schema.Attributes[0].Required = false
	a.Extensions[0].Schema.Attributes = nil
	b := schema.User()
	if !b.Schema.Attributes[0].Required {
		t.Fatal("User() shares its core schema between calls")
	}
	if len(b.Extensions[0].Schema.Attributes) == 0 {
		t.Fatal("User() shares its extension schema between calls")
	}
	if b.Extensions[0].Required {
		t.Fatal("the enterprise extension must be optional")
	}
	if got, want := len(b.Schema.Attributes), 21; got != want {
		t.Fatalf("core User has %d attributes, want %d (RFC 7643 §4.1)", got, want)
	}
}
