package schema

import (
	"slices"
	"sync"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// User returns the User resource type (RFC 7643 §4.1, §8.7.1) with the enterprise User
// extension (RFC 7643 §4.3), which is optional.
func User() *ResourceType {
	return &ResourceType{
		ID:          "User",
		Name:        "User",
		Endpoint:    "/Users",
		Description: "User Account",
		Schema:      CoreUser(),
		Extensions:  []Extension{{Schema: EnterpriseUser(), Required: false}},
	}
}

// Group returns the Group resource type (RFC 7643 §4.2, §8.7.1).
func Group() *ResourceType {
	return &ResourceType{
		ID:          "Group",
		Name:        "Group",
		Endpoint:    "/Groups",
		Description: "Group",
		Schema:      CoreGroup(),
	}
}

// attribute options keep the long RFC tables below readable: each definition starts from
// the RFC 7643 §2.2 defaults and lists only where it differs.
type option func(*Attribute)

func attr(name, typ, desc string, opts ...option) Attribute {
	a := Attribute{
		Name:        name,
		Type:        typ,
		Mutability:  ReadWrite,
		Returned:    ReturnedDefault,
		Uniqueness:  UniquenessNone,
		Description: desc,
	}
	// RFC 7643 §2.3.6: binary values are case exact.
	if typ == filter.TypeBinary {
		a.CaseExact = true
	}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func str(name, desc string, opts ...option) Attribute {
	return attr(name, filter.TypeString, desc, opts...)
}

func complexAttr(name, desc string, subs []Attribute, opts ...option) Attribute {
	a := attr(name, filter.TypeComplex, desc, opts...)
	a.SubAttributes = subs
	return a
}

func multi(a *Attribute)          { a.MultiValued = true }
func required(a *Attribute)       { a.Required = true }
func caseExact(a *Attribute)      { a.CaseExact = true }
func readOnly(a *Attribute)       { a.Mutability = ReadOnly }
func immutable(a *Attribute)      { a.Mutability = Immutable }
func writeOnly(a *Attribute)      { a.Mutability = WriteOnly }
func neverReturned(a *Attribute)  { a.Returned = ReturnedNever }
func alwaysReturned(a *Attribute) { a.Returned = ReturnedAlways }
func serverUnique(a *Attribute)   { a.Uniqueness = UniquenessServer }

func canonical(values ...string) option {
	return func(a *Attribute) { a.CanonicalValues = values }
}

func refTypes(types ...string) option {
	return func(a *Attribute) { a.ReferenceTypes = types }
}

// commonAttrs is commonAttributes, built once: it is read on every write and every
// rendered resource, and never modified.
var commonAttrs = commonAttributes()

// coreAttrsMemo memoizes each core schema's attributes followed by the common ones. Building
// that list per call (a fresh common-attribute tree plus a copy of the schema's ≈ 20
// attributes) was ≈ 2% of a write's CPU and ran for each of a list page's 100 resources.
// Schemas are never changed once built, so an entry stays right; the map is emptied when
// it grows large, since tenants' settings changes build new schemas.
var coreAttrsMemo struct {
	sync.Mutex
	m map[*Schema][]Attribute
}

const maxCoreAttrs = 256

// attributesWithCommon returns s.Attributes followed by the common attributes. Callers must
// not modify the result.
func attributesWithCommon(s *Schema) []Attribute {
	coreAttrsMemo.Lock()
	defer coreAttrsMemo.Unlock()
	if a, ok := coreAttrsMemo.m[s]; ok {
		return a
	}
	if coreAttrsMemo.m == nil || len(coreAttrsMemo.m) >= maxCoreAttrs {
		coreAttrsMemo.m = make(map[*Schema][]Attribute)
	}
	a := append(slices.Clip(s.Attributes), commonAttrs...)
	coreAttrsMemo.m[s] = a
	return a
}

// commonAttributes are the attributes every resource has (RFC 7643 §3.1). The RFC's schema
// representations leave them out, so they live here rather than in each Schema.
func commonAttributes() []Attribute {
	return []Attribute{
		str("id", "Unique identifier for the SCIM resource, issued by the service provider.",
			caseExact, readOnly, alwaysReturned, serverUnique, required),
		str("externalId", "Identifier of the resource as defined by the provisioning client.",
			caseExact),
		complexAttr("meta", "Resource metadata.", []Attribute{
			str("resourceType", "Name of the resource type of the resource.", caseExact, readOnly),
			attr("created", filter.TypeDateTime, "When the resource was added to the service provider.", readOnly),
			attr("lastModified", filter.TypeDateTime, "When the resource was last updated.", readOnly),
			str("location", "URI of the resource.", caseExact, readOnly),
			str("version", "Version (entity tag) of the resource.", caseExact, readOnly),
		}, readOnly),
	}
}

// multiValuedSubs returns the value/display/type/primary sub-attributes that most
// multi-valued User attributes share (RFC 7643 §2.4, §4.1.2).
func multiValuedSubs(value Attribute, what string, types []string) []Attribute {
	var typeOpts []option
	if types != nil {
		typeOpts = append(typeOpts, canonical(types...))
	}
	return []Attribute{
		value,
		str("display", "A human-readable name, primarily used for display purposes."),
		str("type", "A label indicating the "+what+"'s function.", typeOpts...),
		attr("primary", filter.TypeBoolean, "Whether this is the primary "+what+"; at most one value may be primary."),
	}
}

// CoreUser returns the core User schema, its attributes and characteristics as RFC 7643
// §8.7.1 lists them. Where §8.7.1 omits what §4.1.2 specifies (addresses.primary), §4.1.2
// wins: the RFC's own example in §8.2 sends it.
func CoreUser() *Schema {
	return &Schema{
		ID:          UserSchema,
		Name:        "User",
		Description: "User Account",
		Attributes: []Attribute{
			str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.",
				required, serverUnique),
			complexAttr("name", "The components of the user's real name.", []Attribute{
				str("formatted", "The full name, formatted for display."),
				str("familyName", "The family name of the User, or last name."),
				str("givenName", "The given name of the User, or first name."),
				str("middleName", "The middle name(s) of the User."),
				str("honorificPrefix", "The honorific prefix(es) of the User, or title."),
				str("honorificSuffix", "The honorific suffix(es) of the User, or suffix."),
			}),
			str("displayName", "The name of the User, suitable for display to end-users."),
			str("nickName", "The casual way to address the user in real life."),
			attr("profileUrl", filter.TypeReference, "A fully qualified URL pointing to a page representing the User's online profile.",
				refTypes("external")),
			str("title", "The user's title, such as \"Vice President\"."),
			str("userType", "Identifies the relationship between the organization and the user."),
			str("preferredLanguage", "The User's preferred written or spoken language, as in the HTTP Accept-Language header."),
			str("locale", "The User's default location, for localizing items such as currency and dates."),
			str("timezone", "The User's time zone in the 'Olson' time zone database format."),
			attr("active", filter.TypeBoolean, "The User's administrative status."),
			str("password", "The User's cleartext password, only ever written.",
				writeOnly, neverReturned),
			complexAttr("emails", "Email addresses for the user.",
				multiValuedSubs(str("value", "Email address for the user."), "email",
					[]string{"work", "home", "other"}), multi),
			complexAttr("phoneNumbers", "Phone numbers for the User.",
				multiValuedSubs(str("value", "Phone number of the User."), "phone number",
					[]string{"work", "home", "mobile", "fax", "pager", "other"}), multi),
			complexAttr("ims", "Instant messaging addresses for the User.",
				multiValuedSubs(str("value", "Instant messaging address for the User."), "instant messaging address",
					[]string{"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"}), multi),
			complexAttr("photos", "URLs of photos of the User.",
				multiValuedSubs(attr("value", filter.TypeReference, "URL of a photo of the User.", refTypes("external")), "photo",
					[]string{"photo", "thumbnail"}), multi),
			complexAttr("addresses", "A physical mailing address for this User.", []Attribute{
				str("formatted", "The full mailing address, formatted for display."),
				str("streetAddress", "The full street address component."),
				str("locality", "The city or locality component."),
				str("region", "The state or region component."),
				str("postalCode", "The zip code or postal code component."),
				str("country", "The country name component."),
				str("type", "A label indicating the address's function.", canonical("work", "home", "other")),
				attr("primary", filter.TypeBoolean, "Whether this is the primary address; at most one value may be primary."),
			}, multi),
			complexAttr("groups", "The groups the user belongs to, directly or through nested groups. Managed through the Group resources.", []Attribute{
				str("value", "The identifier of the User's group.", readOnly),
				attr("$ref", filter.TypeReference, "The URI of the corresponding Group resource.", refTypes("User", "Group"), readOnly),
				str("display", "A human-readable name, primarily used for display purposes.", readOnly),
				str("type", "How the membership is derived.", canonical("direct", "indirect"), readOnly),
			}, multi, readOnly),
			complexAttr("entitlements", "Entitlements for the User.",
				multiValuedSubs(str("value", "The value of an entitlement."), "entitlement", nil), multi),
			complexAttr("roles", "Roles for the User.",
				multiValuedSubs(str("value", "The value of a role."), "role", nil), multi),
			complexAttr("x509Certificates", "X.509 certificates issued to the User.",
				multiValuedSubs(attr("value", filter.TypeBinary, "The value of an X.509 certificate."), "certificate", nil), multi),
		},
	}
}

// CoreGroup returns the core Group schema (RFC 7643 §4.2, §8.7.1). displayName is required
// as §4.2 says ("REQUIRED"), although the §8.7.1 listing marks it optional; members.display
// is the read-only name that §4.2 mentions and §8.7.1 leaves out.
func CoreGroup() *Schema {
	return &Schema{
		ID:          GroupSchema,
		Name:        "Group",
		Description: "Group",
		Attributes: []Attribute{
			str("displayName", "A human-readable name for the Group.", required),
			complexAttr("members", "A list of members of the Group.", []Attribute{
				str("value", "Identifier of the member of this Group.", immutable),
				attr("$ref", filter.TypeReference, "The URI corresponding to a SCIM resource that is a member of this Group.",
					refTypes("User", "Group"), immutable),
				str("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.",
					canonical("User", "Group"), immutable),
				str("display", "A human-readable name of the member.", readOnly),
			}, multi),
		},
	}
}

// EnterpriseUser returns the enterprise User extension schema (RFC 7643 §4.3, §8.7.1).
func EnterpriseUser() *Schema {
	return &Schema{
		ID:          EnterpriseUserSchema,
		Name:        "EnterpriseUser",
		Description: "Enterprise User",
		Attributes: []Attribute{
			str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person by the organization."),
			str("costCenter", "Identifies the name of a cost center."),
			str("organization", "Identifies the name of an organization."),
			str("division", "Identifies the name of a division."),
			str("department", "Identifies the name of a department."),
			complexAttr("manager", "The User's manager.", []Attribute{
				str("value", "The id of the SCIM resource representing the User's manager."),
				attr("$ref", filter.TypeReference, "The URI of the SCIM resource representing the User's manager.", refTypes("User")),
				str("displayName", "The displayName of the User's manager.", readOnly),
			}),
		},
	}
}
