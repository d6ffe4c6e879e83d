package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// ETag is the weak entity tag of a resource version.
func ETag(version int64) string { return fmt.Sprintf(`W/"%d"`, version) }

// etagMatches reports whether an If-Match header value matches version: "*" matches any
// existing resource; tags are compared with the weakness indicator ignored, because SCIM
// clients send back the weak tags we hand out.
func etagMatches(header string, version int64) bool {
	want := strings.TrimPrefix(ETag(version), "W/")
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

func checkIfMatch(ifMatch string, r scimtrail.Resource) error {
	if ifMatch != "" && !etagMatches(ifMatch, r.Version) {
		return scimtrail.Errorf(scimtrail.EPRECONDITION,
			"%s %q has changed: its version is %s, If-Match asked for %s", r.Type, r.ID, ETag(r.Version), ifMatch)
	}
	return nil
}

// storedDoc decodes a resource's attributes with its schemas: the document PATCH applies to.
func storedDoc(r scimtrail.Resource) (map[string]any, error) {
	doc := map[string]any{}
	if m, ok := parseObject(r.Attributes); ok {
		doc = m
	} else if len(r.Attributes) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Attributes))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("decode stored %s %s: %w", r.Type, r.ID, err)
		}
	}
	schemas := make([]any, len(r.Schemas))
	for i, s := range r.Schemas {
		schemas[i] = s
	}
	doc["schemas"] = schemas
	return doc, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// endpoint is the URL path segment of a resource type.
func endpoint(typ scimtrail.ResourceType) string { return string(typ) + "s" }

// Render returns the SCIM JSON document of v; base is the tenant's SCIM base URL
// (".../scim/v2/acme"), used for meta.location and $ref. Attribute projection is the
// caller's: it depends on the request.
func Render(v View, base string) map[string]any {
	r := v.Resource
	doc, err := storedDoc(r)
	if err != nil {
		// Stored documents were produced by Normalize; one that does not decode is
		// corruption, and rendering what is known beats failing the whole list.
		doc = map[string]any{"schemas": r.Schemas}
	}
	doc["id"] = r.ID
	doc["meta"] = map[string]any{
		"resourceType": string(r.Type),
		"created":      formatTime(r.Created),
		"lastModified": formatTime(r.LastModified),
		"location":     base + "/" + endpoint(r.Type) + "/" + r.ID,
		"version":      ETag(r.Version),
	}
	switch r.Type {
	case scimtrail.GroupResource:
		if len(v.Members) > 0 {
			members := make([]any, len(v.Members))
			for i, m := range v.Members {
				mm := map[string]any{"value": m.Value, "type": string(m.Type), "$ref": base + "/" + endpoint(m.Type) + "/" + m.Value}
				if m.Display != "" {
					mm["display"] = m.Display
				}
				members[i] = mm
			}
			doc["members"] = members
		}
	case scimtrail.UserResource:
		if len(v.Groups) > 0 {
			groups := make([]any, len(v.Groups))
			for i, g := range v.Groups {
				gm := map[string]any{"value": g.Value, "$ref": base + "/Groups/" + g.Value, "type": "direct"}
				if g.Display != "" {
					gm["display"] = g.Display
				}
				groups[i] = gm
			}
			doc["groups"] = groups
		}
	}
	return doc
}

// filterDoc is the document filters are evaluated against: the stored attributes with id,
// schemas and meta, without the derived groups or members.
func filterDoc(r scimtrail.Resource) map[string]any {
	doc, err := storedDoc(r)
	if err != nil {
		return map[string]any{}
	}
	doc["id"] = r.ID
	doc["meta"] = map[string]any{
		"resourceType": string(r.Type),
		"created":      formatTime(r.Created),
		"lastModified": formatTime(r.LastModified),
		"version":      ETag(r.Version),
	}
	return doc
}
