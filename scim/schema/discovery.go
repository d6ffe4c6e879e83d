package schema

import "github.com/scimtrail/scimtrail/scim/filter"

// Capabilities are the features a deployment advertises in its ServiceProviderConfig
// (RFC 7643 §5). The service builds it from its configuration; nothing here assumes any.
type Capabilities struct {
	Patch, Bulk, Filter, ChangePassword, Sort, ETag bool
	MaxResults                                      int // filter.maxResults
	BulkMaxOperations                               int // bulk.maxOperations
	BulkMaxPayloadSize                              int // bulk.maxPayloadSize, in bytes
	DocumentationURI                                string
	// Pagination, when set, is advertised as RFC 9865 §4's "pagination" attribute.
	Pagination *Pagination
}

// Pagination is the ServiceProviderConfig "pagination" attribute (RFC 9865 §4).
type Pagination struct {
	Cursor, Index           bool
	DefaultPaginationMethod string // "index" or "cursor"
	DefaultPageSize         int
	MaxPageSize             int
	CursorTimeout           int // seconds
}

// ServiceProviderConfig returns the ServiceProviderConfig resource (RFC 7643 §5, RFC 7644
// §4) served at base + "/ServiceProviderConfig". base is the SCIM base URL of the tenant,
// without a trailing slash.
func ServiceProviderConfig(base string, c Capabilities) map[string]any {
	doc := map[string]any{
		"schemas":        []any{ServiceProviderConfigSchema},
		"patch":          map[string]any{"supported": c.Patch},
		"bulk":           map[string]any{"supported": c.Bulk, "maxOperations": c.BulkMaxOperations, "maxPayloadSize": c.BulkMaxPayloadSize},
		"filter":         map[string]any{"supported": c.Filter, "maxResults": c.MaxResults},
		"changePassword": map[string]any{"supported": c.ChangePassword},
		"sort":           map[string]any{"supported": c.Sort},
		"etag":           map[string]any{"supported": c.ETag},
		// Tokens are opaque bearer tokens sent as in RFC 6750; "oauthbearertoken" is the
		// RFC 7643 §5 type for that scheme, and the only one we accept.
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "Authentication with a bearer token issued by scimtrail for the tenant.",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	}
	if p := c.Pagination; p != nil {
		doc["pagination"] = map[string]any{
			"cursor":                  p.Cursor,
			"index":                   p.Index,
			"defaultPaginationMethod": p.DefaultPaginationMethod,
			"defaultPageSize":         p.DefaultPageSize,
			"maxPageSize":             p.MaxPageSize,
			"cursorTimeout":           p.CursorTimeout,
		}
	}
	if c.DocumentationURI != "" {
		doc["documentationUri"] = c.DocumentationURI
	}
	return doc
}

// Document returns the ResourceType resource describing rt (RFC 7643 §6, RFC 7644 §4),
// served at base + "/ResourceTypes/" + rt.ID.
func (rt *ResourceType) Document(base string) map[string]any {
	doc := map[string]any{
		"schemas":  []any{ResourceTypeSchema},
		"id":       rt.ID,
		"name":     rt.Name,
		"endpoint": rt.Endpoint,
		"schema":   rt.Schema.ID,
		"meta": map[string]any{
			"resourceType": "ResourceType",
			"location":     base + "/ResourceTypes/" + rt.ID,
		},
	}
	if rt.Description != "" {
		doc["description"] = rt.Description
	}
	if len(rt.Extensions) > 0 {
		exts := make([]any, len(rt.Extensions))
		for i, e := range rt.Extensions {
			exts[i] = map[string]any{"schema": e.Schema.ID, "required": e.Required}
		}
		doc["schemaExtensions"] = exts
	}
	return doc
}

// Document returns the schema resource describing s, with every attribute and all its
// characteristics in the representation of RFC 7643 §7 and §8.7, served at
// base + "/Schemas/" + s.ID.
func (s *Schema) Document(base string) map[string]any {
	return map[string]any{
		"schemas":     []any{SchemaSchema},
		"id":          s.ID,
		"name":        s.Name,
		"description": s.Description,
		"attributes":  attributeDocs(s.Attributes),
		"meta": map[string]any{
			"resourceType": "Schema",
			"location":     base + "/Schemas/" + s.ID,
		},
	}
}

func attributeDocs(attrs []Attribute) []any {
	docs := make([]any, len(attrs))
	for i := range attrs {
		a := &attrs[i]
		d := map[string]any{
			"name":        a.Name,
			"type":        a.Type,
			"multiValued": a.MultiValued,
			"description": a.Description,
			"required":    a.Required,
			"caseExact":   a.CaseExact,
			"mutability":  a.Mutability,
			"returned":    a.Returned,
			"uniqueness":  a.Uniqueness,
		}
		if len(a.CanonicalValues) > 0 {
			d["canonicalValues"] = stringsToAny(a.CanonicalValues)
		}
		// RFC 7643 §7: referenceTypes is REQUIRED for reference attributes.
		if a.Type == filter.TypeReference {
			d["referenceTypes"] = stringsToAny(a.ReferenceTypes)
		}
		if a.Type == filter.TypeComplex {
			d["subAttributes"] = attributeDocs(a.SubAttributes)
		}
		docs[i] = d
	}
	return docs
}

// stringsToAny gives documents the []any shape that decoded JSON has, so callers compare
// and project them like any other resource.
func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
