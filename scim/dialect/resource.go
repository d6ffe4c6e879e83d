package dialect

import (
	"slices"
	"sort"
	"strings"

	"github.com/scimtrail/scimtrail/scim/schema"
)

// NormalizeResource rewrites a POST or PUT body of resource type rt into what its sender
// meant, before rt.Normalize validates it. doc is the decoded body (numbers as
// json.Number); the result is a new document and doc is not modified. With Strict, doc is
// returned as it is.
//
// The rewrites, each applied only where the body would otherwise be rejected:
//   - booleans sent as strings ("True", "false") where the schema says boolean;
//   - the enterprise manager sent as a bare id, or as a one-element array, instead of
//     {"value": id};
//   - an extension attribute sent at the top level, unqualified ("department") or
//     qualified ("urn:…:enterprise:2.0:User:department"), is moved under its extension;
//   - schema URNs in "schemas" that rt does not define and that no attribute of the body
//     uses are dropped (Entra lists an ADSCIM Group schema, and Microsoft's own example
//     lists "…:enterprise:2.0User"), and so are attributes rt does not define whose value
//     is null (unassigned, RFC 7643 §2.5), as in Microsoft's example with "manager": null.
//
// readOnly attributes that clients echo (id, meta, groups: Okta's PUT sends all three) need
// no rewrite: rt.Normalize ignores them, as RFC 7644 §3.3 requires.
func NormalizeResource(d Dialect, rt *schema.ResourceType, doc map[string]any) map[string]any {
	f := d.fixes()
	if f == (fixes{}) || doc == nil {
		return doc
	}
	out := cloneValue(doc).(map[string]any)
	if f.resourceBody || f.qualify {
		f.moveExtensionAttributes(rt, out)
	}
	for _, key := range sortedKeys(out) {
		if strings.EqualFold(key, "schemas") {
			continue
		}
		if ext, ok := extension(rt, key); ok {
			obj, isObj := out[key].(map[string]any)
			if !isObj {
				continue
			}
			e := extSchema(rt, ext)
			for k, v := range obj {
				if a, ok := e.Attribute(k); ok {
					obj[k] = f.coerce(a, v)
				} else if v == nil && f.resourceBody {
					delete(obj, k)
				}
			}
			continue
		}
		if a, ok := rt.Lookup("", key, ""); ok {
			out[key] = f.coerce(a, out[key])
			continue
		}
		if out[key] == nil && f.resourceBody {
			delete(out, key)
		}
	}
	if f.resourceBody {
		dropUnusedSchemas(rt, out)
	}
	return out
}

// moveExtensionAttributes moves extension attributes sent at the top level into their
// extension's object, adding the extension to "schemas". A value already present under the
// extension is never overwritten: the body is then left for rt.Normalize to reject.
func (f fixes) moveExtensionAttributes(rt *schema.ResourceType, doc map[string]any) {
	for _, key := range sortedKeys(doc) {
		if strings.EqualFold(key, "schemas") {
			continue
		}
		if _, ok := extension(rt, key); ok {
			continue
		}
		ext, name, ok := splitURN(rt, key)
		if !ok {
			if _, core := rt.Lookup("", key, ""); core || doc[key] == nil {
				continue
			}
			var a *schema.Attribute
			ext, a, ok = f.lookup(rt, key)
			if !ok || ext == "" {
				continue
			}
			name = a.Name
		}
		if strings.ContainsAny(name, ".:[") {
			continue
		}
		extKey := ext
		for k := range doc {
			if strings.EqualFold(k, ext) {
				extKey = k
			}
		}
		obj, isObj := doc[extKey].(map[string]any)
		if doc[extKey] != nil && !isObj {
			continue
		}
		if obj == nil {
			obj = map[string]any{}
		}
		if slices.ContainsFunc(sortedKeys(obj), func(k string) bool { return strings.EqualFold(k, name) }) {
			continue
		}
		obj[name] = doc[key]
		doc[extKey] = obj
		delete(doc, key)
		addSchema(doc, ext)
	}
}

// dropUnusedSchemas removes from "schemas" the URNs rt does not define and that no key of
// doc uses. A URN with attributes in the body is kept, so that rt.Normalize rejects data
// it cannot store rather than this package dropping it silently.
func dropUnusedSchemas(rt *schema.ResourceType, doc map[string]any) {
	for _, key := range sortedKeys(doc) {
		if !strings.EqualFold(key, "schemas") {
			continue
		}
		list, ok := doc[key].([]any)
		if !ok {
			return
		}
		kept := make([]any, 0, len(list))
		for _, v := range list {
			s, isStr := v.(string)
			_, isExt := extension(rt, s)
			used := false
			for k := range doc {
				if isStr && (strings.EqualFold(k, s) || len(k) > len(s) && strings.EqualFold(k[:len(s)], s) && k[len(s)] == ':') {
					used = true
				}
			}
			if !isStr || strings.EqualFold(s, rt.Schema.ID) || isExt || used {
				kept = append(kept, v)
			}
		}
		doc[key] = kept
	}
}

// addSchema appends urn to doc's "schemas" unless it is listed.
func addSchema(doc map[string]any, urn string) {
	key := "schemas"
	for k := range doc {
		if strings.EqualFold(k, "schemas") {
			key = k
		}
	}
	// A body without "schemas" is rejected by rt.Normalize either way; inventing one here
	// would only change the message.
	list, ok := doc[key].([]any)
	if !ok {
		return
	}
	for _, v := range list {
		if s, ok := v.(string); ok && strings.EqualFold(s, urn) {
			return
		}
	}
	doc[key] = append(slices.Clone(list), urn)
}

func extSchema(rt *schema.ResourceType, urn string) *schema.Schema {
	for _, e := range rt.Extensions {
		if e.Schema.ID == urn {
			return e.Schema
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
