package schema

import (
	"strings"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// Project returns the part of doc (a stored resource in canonical form, with "schemas",
// "id" and "meta") that a response carries, per RFC 7644 §3.4.2.5 and §3.9 and the
// "returned" characteristic (RFC 7643 §2.2, §7):
//
//   - returned "always" attributes (id, and "schemas") are always present, even when
//     excluded or not asked for;
//   - returned "never" attributes (password) are never present;
//   - returned "request" attributes are present only when attributes names them;
//   - returned "default" attributes are present when attributes is empty, or names them
//     (or their schema), and excludedAttributes does not.
//
// Names in attributes and excludedAttributes are case-insensitive and may be qualified by a
// schema URN ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
// or name a sub-attribute ("name.familyName" keeps name with only familyName; "emails"
// keeps every email whole). An extension's bare URN names all of its attributes. Names the
// resource type does not define are ignored. The result shares nothing with doc, and doc is
// never modified.
func (rt *ResourceType) Project(doc map[string]any, attributes, excludedAttributes []string) map[string]any {
	p := projection{
		useReq: len(attributes) > 0,
		req:    rt.selection(attributes),
		exc:    rt.selection(excludedAttributes),
	}
	out := make(map[string]any, len(doc))
	extKeys := make(map[string]string) // canonical URN → key in doc
	core := make(map[string]any, len(doc))
	for k, v := range doc {
		switch ext, isExt := rt.extension(k); {
		case strings.EqualFold(k, "schemas"):
			// RFC 7643 §3: "schemas" is in every representation, so it is never projected away.
			out["schemas"] = deepCopy(v)
		case isExt:
			extKeys[ext.Schema.ID] = k
		default:
			core[k] = v
		}
	}
	coreAttrs := attributesWithCommon(rt.Schema)
	p.object(rt.Schema.ID, coreAttrs, core, out)
	for _, ext := range rt.Extensions {
		key, ok := extKeys[ext.Schema.ID]
		if !ok {
			continue
		}
		m, ok := doc[key].(map[string]any)
		if !ok {
			continue
		}
		extOut := make(map[string]any, len(m))
		p.object(ext.Schema.ID, ext.Schema.Attributes, m, extOut)
		if len(extOut) > 0 {
			out[ext.Schema.ID] = extOut
		}
	}
	return out
}

// selection is a parsed attributes or excludedAttributes list: per schema URN, either the
// whole schema, or per attribute either the whole attribute or some of its sub-attributes.
type selection map[string]*schemaSel

type schemaSel struct {
	whole bool
	attrs map[string]*attrSel // by canonical attribute name
}

type attrSel struct {
	whole bool
	subs  map[string]bool // by canonical sub-attribute name
}

// whole reports whether the schema's bare URN was named.
func (s selection) whole(urn string) bool {
	return s[urn] != nil && s[urn].whole
}

// attr returns what was named of one attribute, or nil.
func (s selection) attr(urn, name string) *attrSel {
	if s[urn] == nil {
		return nil
	}
	return s[urn].attrs[name]
}

// selection resolves names to canonical schema URNs and attribute names.
func (rt *ResourceType) selection(names []string) selection {
	sel := make(selection)
	for _, name := range names {
		urn, rest := rt.splitURN(strings.TrimSpace(name))
		ss := sel[urn]
		if ss == nil {
			ss = &schemaSel{attrs: make(map[string]*attrSel)}
			sel[urn] = ss
		}
		if rest == "" {
			ss.whole = true
			continue
		}
		attrName, subName, _ := strings.Cut(rest, ".")
		a, ok := rt.Lookup(urn, attrName, "")
		if !ok {
			continue
		}
		var sub *Attribute
		if subName != "" {
			if sub, ok = a.Sub(subName); !ok {
				continue
			}
		}
		as := ss.attrs[a.Name]
		if as == nil {
			as = &attrSel{subs: make(map[string]bool)}
			ss.attrs[a.Name] = as
		}
		if sub == nil {
			as.whole = true
		} else {
			as.subs[sub.Name] = true
		}
	}
	return sel
}

// splitURN separates a schema URN prefix from an attribute name. It returns the canonical
// URN (the core schema's when name is unqualified) and the rest, "" when name is a bare URN.
func (rt *ResourceType) splitURN(name string) (urn, rest string) {
	urns := make([]string, 0, len(rt.Extensions)+1)
	for _, e := range rt.Extensions {
		urns = append(urns, e.Schema.ID)
	}
	urns = append(urns, rt.Schema.ID)
	for _, u := range urns {
		if len(name) < len(u) || !strings.EqualFold(name[:len(u)], u) {
			continue
		}
		if len(name) == len(u) {
			return u, ""
		}
		if name[len(u)] == ':' {
			return u, name[len(u)+1:]
		}
	}
	return rt.Schema.ID, name
}

type projection struct {
	useReq   bool
	req, exc selection
}

// object copies the attributes of in that the projection returns into out.
func (p projection) object(urn string, attrs []Attribute, in, out map[string]any) {
	reqWhole, excWhole := p.req.whole(urn), p.exc.whole(urn)
	for k, v := range in {
		a, ok := find(attrs, k)
		if !ok {
			// Not ours to judge: keep what the schema does not describe only in a default view.
			if !p.useReq && !excWhole {
				out[k] = deepCopy(v)
			}
			continue
		}
		rs, es := p.req.attr(urn, a.Name), p.exc.attr(urn, a.Name)
		var include bool
		switch a.Returned {
		case ReturnedAlways:
			include = true
		case ReturnedNever:
			include = false
		case ReturnedRequest:
			include = rs != nil || reqWhole
		default:
			include = (!p.useReq || reqWhole || rs != nil) && !excWhole && (es == nil || !es.whole)
		}
		if !include {
			continue
		}
		if a.Type != filter.TypeComplex || len(a.SubAttributes) == 0 {
			out[k] = deepCopy(v)
			continue
		}
		// Only the named sub-attributes when the request named some and not the whole.
		var only map[string]bool
		if rs != nil && !rs.whole && len(rs.subs) > 0 && !reqWhole {
			only = rs.subs
		}
		var excluded map[string]bool
		if es != nil && a.Returned != ReturnedAlways {
			excluded = es.subs
		}
		if pv, ok := projectComplex(a, v, only, rs, excluded); ok {
			out[a.Name] = pv
		}
	}
}

// projectComplex filters the sub-attributes of a complex value, or of each element of a
// multi-valued one. It returns false when nothing is left.
func projectComplex(a *Attribute, v any, only map[string]bool, rs *attrSel, excluded map[string]bool) (any, bool) {
	keep := func(m map[string]any) map[string]any {
		res := make(map[string]any, len(m))
		for k, sv := range m {
			s, ok := a.Sub(k)
			if !ok {
				if only == nil {
					res[k] = deepCopy(sv)
				}
				continue
			}
			named := rs != nil && rs.subs[s.Name]
			var include bool
			switch s.Returned {
			case ReturnedAlways:
				include = true
			case ReturnedNever:
				include = false
			case ReturnedRequest:
				include = named
			default:
				include = (only == nil || only[s.Name]) && !excluded[s.Name]
			}
			if include {
				res[s.Name] = deepCopy(sv)
			}
		}
		return res
	}
	switch x := v.(type) {
	case map[string]any:
		m := keep(x)
		return m, len(m) > 0
	case []any:
		res := make([]any, 0, len(x))
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if pm := keep(m); len(pm) > 0 {
					res = append(res, pm)
				}
				continue
			}
			res = append(res, deepCopy(e))
		}
		return res, len(res) > 0
	}
	return deepCopy(v), true
}

// deepCopy copies JSON-shaped values so that callers may change the result freely.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}
