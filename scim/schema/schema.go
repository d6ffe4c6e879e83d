// Package schema defines the SCIM resource types scimtrail serves — their schemas and the
// characteristics of every attribute (RFC 7643 §2, §4, §7, §8.7) — and the pure operations
// built on them: attribute lookup for filters and PATCH, validation and normalisation of
// request bodies, attribute projection for responses (RFC 7644 §3.4.2.5, §3.9), and the
// discovery documents (RFC 7644 §4).
//
// Every constructor returns fresh values, so a caller may extend or alter what it gets
// (a tenant's custom extension, say) without affecting anyone else. Nothing here does I/O.
package schema

import (
	"strings"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// Schema URNs (RFC 7643 §8.7, RFC 7644 §3, §8.2).
const (
	UserSchema                  = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema                 = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserSchema        = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListResponseSchema          = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	ErrorSchema                 = "urn:ietf:params:scim:api:messages:2.0:Error"
	PatchOpSchema               = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchRequestSchema         = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	BulkRequestSchema           = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	BulkResponseSchema          = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	ServiceProviderConfigSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeSchema          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Mutability values (RFC 7643 §2.2, §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"
)

// Returned values (RFC 7643 §2.2, §7).
const (
	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"
)

// Uniqueness values (RFC 7643 §2.2, §7).
const (
	UniquenessNone   = "none"
	UniquenessServer = "server"
	UniquenessGlobal = "global"
)

// Attribute is one attribute definition with its characteristics, as in the "attributes" of
// a schema resource (RFC 7643 §7). Type is one of the filter.Type constants. SubAttributes is
// set only for complex attributes; SCIM does not nest complex attributes further.
type Attribute struct {
	Name            string
	Type            string
	MultiValued     bool
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []Attribute
	Description     string
	// EnforceCanonical makes CanonicalValues the only values accepted (compared
	// case-insensitively, stored as defined). Tenants' custom attributes set it: whoever
	// lists the values of their own attribute means them as a rule.
	EnforceCanonical bool
}

// Sub returns the sub-attribute named name (case-insensitively).
func (a *Attribute) Sub(name string) (*Attribute, bool) {
	return find(a.SubAttributes, name)
}

// Schema is a core schema or an extension: its URN and its attributes.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []Attribute
}

// Attribute returns the top-level attribute named name (case-insensitively).
func (s *Schema) Attribute(name string) (*Attribute, bool) {
	return find(s.Attributes, name)
}

// Extension is a schema extension of a resource type. When Required is true, every resource
// of the type must carry it (RFC 7643 §6).
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType is a kind of resource: its endpoint, its core schema and its extensions
// (RFC 7643 §6). The common attributes id, externalId and meta (RFC 7643 §3.1) belong to
// every resource type and are not listed in Schema; lookups add them.
type ResourceType struct {
	ID          string
	Name        string
	Endpoint    string
	Description string
	Schema      *Schema
	Extensions  []Extension
}

// Attribute implements filter.Schema. Names are matched case-insensitively (RFC 7643 §2.1);
// p.URN may be "" or the core schema's URN for core and common attributes, or an extension's
// URN for that extension's attributes. Unqualified names never resolve into an extension, so
// that what the filter evaluator looks up is where the value is stored.
func (rt *ResourceType) Attribute(p filter.AttrPath) (filter.AttrInfo, bool) {
	a, ok := rt.Lookup(p.URN, p.Attr, p.Sub)
	if !ok {
		return filter.AttrInfo{}, false
	}
	return filter.AttrInfo{Type: a.Type, CaseExact: a.CaseExact, MultiValued: a.MultiValued}, true
}

// Lookup returns the definition of attribute attr (and of its sub-attribute sub, when sub is
// not "") in the schema urn: "" or the core schema's URN for core and common attributes, or
// an extension's URN. Names and URNs are matched case-insensitively. The result points into
// rt (or, for common attributes, into a shared list): callers must not modify it.
func (rt *ResourceType) Lookup(urn, attr, sub string) (*Attribute, bool) {
	var a *Attribute
	var ok bool
	switch {
	case urn == "" || strings.EqualFold(urn, rt.Schema.ID):
		a, ok = rt.Schema.Attribute(attr)
		if !ok {
			a, ok = find(commonAttrs, attr)
		}
	default:
		ext, found := rt.extension(urn)
		if !found {
			return nil, false
		}
		a, ok = ext.Schema.Attribute(attr)
	}
	if !ok || sub == "" {
		return a, ok
	}
	return a.Sub(sub)
}

// extension returns the extension with the URN, matched case-insensitively.
func (rt *ResourceType) extension(urn string) (Extension, bool) {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e, true
		}
	}
	return Extension{}, false
}

func find(attrs []Attribute, name string) (*Attribute, bool) {
	for i := range attrs {
		if strings.EqualFold(attrs[i].Name, name) {
			return &attrs[i], true
		}
	}
	return nil, false
}
