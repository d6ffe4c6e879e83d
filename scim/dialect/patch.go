package dialect

import (
	"strings"

	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// NormalizePatch rewrites the operations of a PATCH request on a resource of type rt (as
// patch.ParseRequest returned them) into what their sender meant, before patch.Apply. It
// never modifies ops. With Strict it returns ops as they are.
//
// patch.ParseRequest already lower-cases Entra's "Replace"/"Add"/"Remove", and patch.Apply
// already handles Entra's member removal with the members in "value" (only those are
// removed), a filtered add to a value that does not exist yet (addresses[type eq
// "work"].formatted creates the work address), and Okta's replace of members with []
// (every member removed). The rewrites here are the rest:
//   - booleans sent as strings, in any value, where the schema says boolean
//     (Entra: {"op":"Replace","path":"active","value":"False"});
//   - the enterprise manager as a bare id or a one-element array;
//   - an unqualified path naming an extension attribute ("manager") is qualified;
//   - a path-less add or replace whose value has keys that are paths ("name.givenName",
//     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager") becomes one
//     operation for the plain keys followed by one operation per such key, with that key
//     as its path (Entra with aadOptscim062020);
//   - readOnly attributes echoed in a path-less value (Okta sends "id") are ignored, as a
//     server ignores them in POST and PUT (RFC 7644 §3.3);
//   - with Entra only, a replace of attr[filter].sub with a value becomes an add, which
//     does the same to matching values and, when none matches, creates the value the
//     filter describes instead of failing with noTarget.
//
// The error is for an unknown dialect; a rewritten request that is still wrong is left for
// patch.Apply to reject.
func NormalizePatch(d Dialect, rt *schema.ResourceType, ops []patch.Operation) ([]patch.Operation, error) {
	if _, err := Parse(string(d)); err != nil {
		return nil, err
	}
	f := d.fixes()
	if f == (fixes{}) {
		return ops, nil
	}
	out := make([]patch.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Path == "" && (op.Op == patch.OpAdd || op.Op == patch.OpReplace) {
			if obj, ok := op.Value.(map[string]any); ok {
				out = append(out, f.pathless(rt, op.Op, obj)...)
				continue
			}
		}
		out = append(out, f.withPath(rt, op))
	}
	return out, nil
}

// pathless rewrites a path-less add or replace of the attributes in obj.
func (f fixes) pathless(rt *schema.ResourceType, op string, obj map[string]any) []patch.Operation {
	plain := make(map[string]any, len(obj))
	var split []patch.Operation
	for _, key := range sortedKeys(obj) {
		v := cloneValue(obj[key])
		if strings.EqualFold(key, "schemas") {
			plain[key] = v
			continue
		}
		if ext, ok := extension(rt, key); ok {
			// A whole extension: its attributes are fixed like the core ones.
			if m, isObj := v.(map[string]any); isObj {
				e := extSchema(rt, ext)
				for k, sv := range m {
					if a, ok := e.Attribute(k); ok {
						if f.dropReadOnlyEcho && a.Mutability == schema.ReadOnly {
							delete(m, k)
							continue
						}
						m[k] = f.coerce(a, sv)
					}
				}
			}
			plain[key] = v
			continue
		}
		p, err := patch.ParsePath(key)
		if err != nil {
			plain[key] = v
			continue
		}
		if p.URN == "" && p.Filter == nil && p.Sub == "" {
			ext, a, ok := f.lookup(rt, p.Attr)
			switch {
			case !ok:
				plain[key] = v
			case f.dropReadOnlyEcho && a.Mutability == schema.ReadOnly:
				// Okta echoes "id" (and clients echo "meta") in a path-less replace; the
				// server ignores them, as in a PUT.
			case ext != "" && f.splitPathless:
				split = append(split, f.withPath(rt, patch.Operation{Op: op, Path: ext + ":" + a.Name, Value: v}))
			default:
				plain[key] = f.coerce(a, v)
			}
			continue
		}
		if !f.splitPathless {
			plain[key] = v
			continue
		}
		// "name.givenName", "urn:…:User:department", "emails[type eq \"work\"].value": a
		// path written as a key. It becomes an operation with that path, which is what the
		// sender means and what RFC 7644 §3.5.2 spells with "path".
		split = append(split, f.withPath(rt, patch.Operation{Op: op, Path: key, Value: v}))
	}
	var out []patch.Operation
	if len(plain) > 0 || len(split) == 0 {
		out = append(out, patch.Operation{Op: op, Value: plain})
	}
	return append(out, split...)
}

// withPath fixes the value (and, for unqualified extension attributes, the path) of an
// operation that has a path. A path that does not parse or resolve is left for patch.Apply
// to reject.
func (f fixes) withPath(rt *schema.ResourceType, op patch.Operation) patch.Operation {
	p, err := patch.ParsePath(op.Path)
	if err != nil {
		return op
	}
	ext := ""
	var attr *schema.Attribute
	switch {
	case p.URN == "":
		var ok bool
		if ext, attr, ok = f.lookup(rt, p.Attr); !ok {
			return op
		}
		if ext != "" {
			p.URN = ext
			op.Path = p.String()
		}
	default:
		if p.Attr == "" {
			return op
		}
		var ok bool
		if attr, ok = rt.Lookup(p.URN, p.Attr, ""); !ok {
			return op
		}
	}
	if op.Value != nil {
		switch {
		case p.Sub != "":
			if sub, ok := attr.Sub(p.Sub); ok {
				op.Value = f.coerceOne(sub, cloneValue(op.Value))
			}
		case p.Filter != nil:
			// The value of attr[filter] is one value of attr (or, as clients send it, a
			// list of them).
			op.Value = f.coerce(attr, cloneValue(op.Value))
		default:
			op.Value = f.coerce(attr, cloneValue(op.Value))
		}
	}
	if f.replaceAddsFiltered && op.Op == patch.OpReplace && p.Filter != nil && p.Sub != "" && op.Value != nil {
		op.Op = patch.OpAdd
	}
	return op
}
