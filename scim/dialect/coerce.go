package dialect

import (
	"strings"

	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// coerce returns v, a value of attr as a client sent it, with the dialect's value fixes
// applied. Values it cannot fix are returned as they are, for the engine to reject with a
// message that names them.
func (f fixes) coerce(attr *schema.Attribute, v any) any {
	if attr.MultiValued {
		list, ok := v.([]any)
		if !ok {
			return f.coerceOne(attr, v)
		}
		out := make([]any, len(list))
		for i, el := range list {
			out[i] = f.coerceOne(attr, el)
		}
		return out
	}
	return f.coerceOne(attr, v)
}

// coerceOne fixes one value of attr (one element, when attr is multi-valued).
func (f fixes) coerceOne(attr *schema.Attribute, v any) any {
	switch attr.Type {
	case filter.TypeBoolean:
		if s, ok := v.(string); ok && f.boolStrings {
			// Only the two spellings of a boolean: anything else stays a string and is
			// rejected as invalidValue, rather than guessed at.
			switch {
			case strings.EqualFold(s, "true"):
				return true
			case strings.EqualFold(s, "false"):
				return false
			}
		}
		return v
	case filter.TypeComplex:
		switch x := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, sv := range x {
				if sub, ok := attr.Sub(k); ok {
					out[k] = f.coerceOne(sub, sv)
				} else {
					out[k] = sv
				}
			}
			return out
		case string:
			if f.valueObjects && !attr.MultiValued {
				if _, ok := attr.Sub("value"); ok {
					// Entra sends the enterprise manager as the manager's id. An empty id is
					// how it says "no manager", which is unassigned (RFC 7643 §2.5).
					if x == "" {
						return nil
					}
					return map[string]any{"value": x}
				}
			}
		case []any:
			if f.valueObjects && !attr.MultiValued && len(x) == 1 {
				if _, ok := x[0].(map[string]any); ok {
					return f.coerceOne(attr, x[0])
				}
			}
		}
	}
	return v
}

// lookup resolves a top-level attribute name against rt: a core or common attribute, or,
// when qualify is set and no core attribute has the name, the attribute of the one
// extension that defines it. ext is the extension's URN, "" for core.
func (f fixes) lookup(rt *schema.ResourceType, name string) (ext string, attr *schema.Attribute, ok bool) {
	if a, ok := rt.Lookup("", name, ""); ok {
		return "", a, true
	}
	if !f.qualify {
		return "", nil, false
	}
	for _, e := range rt.Extensions {
		if a, ok := e.Schema.Attribute(name); ok {
			if ext != "" {
				// Two extensions define the name: which one was meant is a guess.
				return "", nil, false
			}
			ext, attr = e.Schema.ID, a
		}
	}
	return ext, attr, ext != ""
}

// extension returns the defined spelling of the extension URN s, if rt has it.
func extension(rt *schema.ResourceType, s string) (string, bool) {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, s) {
			return e.Schema.ID, true
		}
	}
	return "", false
}

// splitURN splits "urn:…:enterprise:2.0:User:manager" into the extension URN of rt it
// starts with and the rest ("manager").
func splitURN(rt *schema.ResourceType, key string) (ext, rest string, ok bool) {
	for _, e := range rt.Extensions {
		id := e.Schema.ID
		if len(key) > len(id)+1 && strings.EqualFold(key[:len(id)], id) && key[len(id)] == ':' {
			return id, key[len(id)+1:], true
		}
	}
	return "", "", false
}

// cloneValue deep-copies a decoded JSON value, so that nothing returned shares memory with
// the caller's input.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
