package schema

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// Limits on a custom extension, so that one tenant's schema cannot make every request of
// that tenant slow to validate.
const (
	MaxCustomAttributes    = 100
	MaxCustomSubAttributes = 50
	MaxCustomCanonical     = 200
)

// CustomExtension is a schema extension a tenant registers for one of its resource types:
// the schema (RFC 7643 §7 representation), which resource type it extends, and whether every
// resource of that type must carry it.
type CustomExtension struct {
	Schema       *Schema
	ResourceType string // "User" or "Group"
	Required     bool
}

// customDoc is the JSON body of a custom extension: a schema resource (RFC 7643 §7, §8.7.1)
// with the resource type it extends. Unknown members are errors, so a typo in a
// characteristic is not silently dropped.
type customDoc struct {
	Schemas      []string       `json:"schemas,omitempty"`
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Description  string         `json:"description"`
	ResourceType string         `json:"resourceType"`
	Required     bool           `json:"required"`
	Attributes   []customAttrIn `json:"attributes"`
	Meta         any            `json:"meta,omitempty"`
}

type customAttrIn struct {
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	MultiValued     bool           `json:"multiValued"`
	Description     string         `json:"description"`
	Required        bool           `json:"required"`
	CaseExact       bool           `json:"caseExact"`
	Mutability      string         `json:"mutability"`
	Returned        string         `json:"returned"`
	Uniqueness      string         `json:"uniqueness"`
	CanonicalValues []string       `json:"canonicalValues"`
	ReferenceTypes  []string       `json:"referenceTypes"`
	SubAttributes   []customAttrIn `json:"subAttributes"`
}

// attrName is RFC 7643 §2.1's ATTRNAME: ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA.
var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// urnPattern is a URN (RFC 8141) as far as SCIM needs: "urn:", a namespace id, and a
// namespace-specific string without characters that would break paths or filters.
var urnPattern = regexp.MustCompile(`^(?i:urn):[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.:=@;$_!*'%/?#]+$`)

// reservedURNPrefix is the IETF's SCIM namespace (RFC 7643 §10.2): the core and enterprise
// schemas and the message URNs live there, and a tenant's own schema must not.
const reservedURNPrefix = "urn:ietf:params:scim:"

// ParseCustomExtension validates the JSON definition of a tenant's custom extension and
// returns it. Every characteristic takes RFC 7643 §2.2's default when left out. Errors are
// *scimtrail.Error with code EINVALID (invalidSyntax for a malformed body, invalidValue for
// a definition that breaks a rule), naming the attribute at fault.
func ParseCustomExtension(body []byte) (CustomExtension, error) {
	var in customDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return CustomExtension{}, invalidSyntax("the schema definition is not valid: %s", err.Error())
	}
	if !urnPattern.MatchString(in.ID) || len(in.ID) > 200 {
		return CustomExtension{}, invalidValue("the schema \"id\" must be a URN such as \"urn:example:params:scim:schemas:extension:acme:2.0:User\" (at most 200 characters), not %q", in.ID)
	}
	if strings.HasPrefix(strings.ToLower(in.ID), reservedURNPrefix) {
		return CustomExtension{}, invalidValue("schema %q is in the IETF SCIM namespace %q, which holds the standard schemas; use a URN of your own", in.ID, reservedURNPrefix)
	}
	typ := ""
	for _, t := range []string{"User", "Group"} {
		if strings.EqualFold(in.ResourceType, t) {
			typ = t
		}
	}
	if typ == "" {
		return CustomExtension{}, invalidValue("\"resourceType\" must be \"User\" or \"Group\", not %q", in.ResourceType)
	}
	if len(in.Attributes) == 0 || len(in.Attributes) > MaxCustomAttributes {
		return CustomExtension{}, invalidValue("a schema needs between 1 and %d attributes, not %d", MaxCustomAttributes, len(in.Attributes))
	}
	name := in.Name
	if name == "" {
		name = in.ID[strings.LastIndex(in.ID, ":")+1:]
	}
	s := &Schema{ID: in.ID, Name: name, Description: in.Description}
	attrs, err := customAttributes(in.Attributes, "", false)
	if err != nil {
		return CustomExtension{}, err
	}
	s.Attributes = attrs
	return CustomExtension{Schema: s, ResourceType: typ, Required: in.Required}, nil
}

func customAttributes(in []customAttrIn, parent string, sub bool) ([]Attribute, error) {
	out := make([]Attribute, 0, len(in))
	seen := map[string]bool{}
	for _, a := range in {
		path := parent + a.Name
		if !attrName.MatchString(a.Name) || len(a.Name) > 64 {
			return nil, invalidValue("attribute name %q must start with a letter and hold only letters, digits, \"-\" and \"_\" (RFC 7643 §2.1), at most 64", path)
		}
		if seen[strings.ToLower(a.Name)] {
			return nil, invalidValue("attribute %q is defined twice (names are case-insensitive)", path)
		}
		seen[strings.ToLower(a.Name)] = true
		switch a.Type {
		case filter.TypeString, filter.TypeBoolean, filter.TypeDecimal, filter.TypeInteger,
			filter.TypeDateTime, filter.TypeBinary, filter.TypeReference, filter.TypeComplex:
		default:
			return nil, invalidValue("attribute %q has type %q; use string, boolean, decimal, integer, dateTime, binary, reference or complex", path, a.Type)
		}
		at := Attribute{Name: a.Name, Type: a.Type, MultiValued: a.MultiValued, Required: a.Required,
			CaseExact: a.CaseExact || a.Type == filter.TypeBinary, Description: a.Description,
			Mutability: a.Mutability, Returned: a.Returned, Uniqueness: a.Uniqueness}
		if at.Mutability == "" {
			at.Mutability = ReadWrite
		}
		if at.Returned == "" {
			at.Returned = ReturnedDefault
		}
		if at.Uniqueness == "" {
			at.Uniqueness = UniquenessNone
		}
		if !slices.Contains([]string{ReadOnly, ReadWrite, Immutable, WriteOnly}, at.Mutability) {
			return nil, invalidValue("attribute %q has mutability %q; use readOnly, readWrite, immutable or writeOnly", path, at.Mutability)
		}
		if !slices.Contains([]string{ReturnedAlways, ReturnedNever, ReturnedDefault, ReturnedRequest}, at.Returned) {
			return nil, invalidValue("attribute %q has returned %q; use always, never, default or request", path, at.Returned)
		}
		if at.Uniqueness != UniquenessNone && at.Uniqueness != UniquenessServer {
			return nil, invalidValue("attribute %q has uniqueness %q; use none or server (global is not offered)", path, at.Uniqueness)
		}
		if at.Uniqueness == UniquenessServer && (sub || at.MultiValued || at.Type == filter.TypeComplex || at.Type == filter.TypeBoolean) {
			return nil, invalidValue("attribute %q: uniqueness server is offered for single-valued, top-level attributes that are not complex or boolean", path)
		}
		if at.Mutability == WriteOnly && at.Returned != ReturnedNever {
			return nil, invalidValue("attribute %q is writeOnly, so its returned must be \"never\" (RFC 7643 §7)", path)
		}
		if at.Required && at.Mutability == ReadOnly {
			return nil, invalidValue("attribute %q cannot be both required and readOnly: no client could ever set it", path)
		}
		if len(a.CanonicalValues) > MaxCustomCanonical {
			return nil, invalidValue("attribute %q has more than %d canonicalValues", path, MaxCustomCanonical)
		}
		if len(a.CanonicalValues) > 0 {
			if a.Type != filter.TypeString {
				return nil, invalidValue("attribute %q: canonicalValues are offered for string attributes only", path)
			}
			at.CanonicalValues = slices.Clone(a.CanonicalValues)
			at.EnforceCanonical = true
		}
		if a.Type == filter.TypeReference {
			at.ReferenceTypes = slices.Clone(a.ReferenceTypes)
			if len(at.ReferenceTypes) == 0 {
				at.ReferenceTypes = []string{"external"}
			}
		} else if len(a.ReferenceTypes) > 0 {
			return nil, invalidValue("attribute %q: referenceTypes apply to reference attributes only", path)
		}
		if a.Type == filter.TypeComplex {
			if sub {
				return nil, invalidValue("attribute %q: a sub-attribute cannot be complex (RFC 7643 §2.3.8)", path)
			}
			if len(a.SubAttributes) == 0 || len(a.SubAttributes) > MaxCustomSubAttributes {
				return nil, invalidValue("complex attribute %q needs between 1 and %d subAttributes", path, MaxCustomSubAttributes)
			}
			subs, err := customAttributes(a.SubAttributes, path+".", true)
			if err != nil {
				return nil, err
			}
			at.SubAttributes = subs
		} else if len(a.SubAttributes) > 0 {
			return nil, invalidValue("attribute %q has subAttributes but is not complex", path)
		}
		out = append(out, at)
	}
	return out, nil
}

// Definition returns the JSON definition of e in the form ParseCustomExtension reads, with
// every characteristic spelled out: what the store keeps and the admin API returns.
func (e CustomExtension) Definition() []byte {
	doc := e.Schema.Document("")
	delete(doc, "meta")
	delete(doc, "schemas")
	doc["resourceType"] = e.ResourceType
	doc["required"] = e.Required
	b, _ := json.Marshal(doc)
	return b
}

// WithExtensions returns a copy of rt with the extensions appended after its own. The
// copy shares rt's schemas, which callers must not modify.
func (rt *ResourceType) WithExtensions(exts ...Extension) *ResourceType {
	c := *rt
	c.Extensions = append(slices.Clip(rt.Extensions), exts...)
	return &c
}
