package patch

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// Member operation kinds (MemberOp.Kind).
const (
	MemberAdd       = "add"        // add Values (set semantics: present ones stay)
	MemberRemove    = "remove"     // remove Values, or the members Filter matches
	MemberReplace   = "replace"    // the group's members become exactly Values
	MemberRemoveAll = "remove_all" // the group has no members afterwards
)

// MemberOp is one change to a Group's members, in request order. Members are membership rows,
// never part of the document, so Apply hands these to the caller rather than loading a group
// of 100k members to add or remove one.
type MemberOp struct {
	Kind string
	// Values are member ids, for add, replace and remove.
	Values []string
	// Types parallels Values: "User", "Group", or "" when the request did not say.
	Types []string
	// Filter is set for a remove of members[filter] whose filter is not a plain
	// `value eq "id"` (or an "or" of them): the caller removes the current members it
	// matches, evaluating it with ElementSchema(members attribute).
	Filter filter.Expr
}

// Result is the outcome of a PATCH request.
type Result struct {
	// Doc is the new document, in the stored form Apply received (canonical names,
	// extension attributes under their URN, "schemas" listing the extensions present).
	Doc map[string]any
	// Members are the operations on a Group's members, in request order.
	Members []MemberOp
	// Changed reports whether Doc differs from the input document. Member changes are not
	// counted: only the store knows whether adding a member changes anything.
	Changed bool
}

// Apply applies ops to doc, a resource of type rt as stored: attribute names canonical,
// extension attributes under their URN key, "schemas" present, and no "id", "meta",
// "groups" or Group "members". It never modifies doc or ops, and the request is atomic:
// on error nothing is applied. Errors are *scimtrail.Error with code EINVALID and scimType
// invalidPath (unknown attribute, malformed path), invalidValue (value of the wrong shape or
// type), noTarget (remove without path, replace through a value filter matching nothing) or
// mutability (readOnly attributes, immutable ones with a value, removing a required one),
// the message prefixed with the failing operation's index.
func Apply(rt *schema.ResourceType, doc map[string]any, ops []Operation) (Result, error) {
	a := &applier{rt: rt, doc: cloneObject(doc)}
	if a.doc == nil {
		a.doc = map[string]any{}
	}
	for i, op := range ops {
		if err := a.apply(op); err != nil {
			return Result{}, atOp(i, err)
		}
	}
	a.settleExtensions()
	if err := a.checkInvariants(doc); err != nil {
		return Result{}, err
	}
	return Result{Doc: a.doc, Members: a.members, Changed: !equalJSON(doc, a.doc)}, nil
}

type applier struct {
	rt      *schema.ResourceType
	doc     map[string]any
	members []MemberOp
}

// target is a path resolved against the resource type.
type target struct {
	path   Path
	ext    string // the extension URN holding the attribute, spelled as defined; "" for core
	attr   *schema.Attribute
	sub    *schema.Attribute // set when the path names a sub-attribute
	filter filter.Expr       // with attribute names as defined
	// wholeExt is set (and attr nil) when the path names a whole extension.
	wholeExt string
}

func (a *applier) apply(op Operation) error {
	switch op.Op {
	case OpAdd, OpReplace, OpRemove:
	default:
		return invalid(scimtrail.ScimInvalidSyntax, "op %q is not one of \"add\", \"remove\", \"replace\"", op.Op)
	}
	if strings.TrimSpace(op.Path) != "" {
		p, err := ParsePath(strings.TrimSpace(op.Path))
		if err != nil {
			return err
		}
		return a.applyAt(op.Op, p, op.Value)
	}
	if op.Op == OpRemove {
		// RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status
		// code 400 and a "scimType" error code of "noTarget"."
		return invalid(scimtrail.ScimNoTarget, "remove needs a \"path\" naming what to remove")
	}
	// RFC 7644 §3.5.2.1/§3.5.2.3: without a path the target is the resource itself and the
	// value holds the attributes to add or replace; each is applied as if it were the path.
	obj, ok := op.Value.(map[string]any)
	if !ok {
		return invalid(scimtrail.ScimInvalidValue, "%s without a \"path\" needs a \"value\" object of attributes, got %s", op.Op, describe(op.Value))
	}
	for _, key := range sortedKeys(obj) {
		v := obj[key]
		if strings.EqualFold(key, "schemas") {
			// "schemas" follows from the attributes present; see settleExtensions.
			continue
		}
		if ext, ok := a.extension(key); ok {
			if err := a.applyAt(op.Op, Path{URN: ext}, v); err != nil {
				return err
			}
			continue
		}
		p, err := ParsePath(key)
		if err != nil || p.Filter != nil || p.Sub != "" {
			return invalid(scimtrail.ScimInvalidPath, "%q in a %s without \"path\" is not an attribute name; to change a sub-attribute send {\"op\":%q,\"path\":%q,\"value\":…}", key, op.Op, op.Op, key)
		}
		if err := a.applyAt(op.Op, p, v); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) applyAt(op string, p Path, v any) error {
	t, err := a.resolve(p)
	if err != nil {
		return err
	}
	if t.wholeExt != "" {
		return a.applyExtension(op, t.wholeExt, v)
	}
	if a.isMembers(t) {
		return a.memberOp(op, t, v)
	}
	if t.attr.Mutability == schema.ReadOnly {
		return invalid(scimtrail.ScimMutability, "%s is read-only and cannot be changed", t.name())
	}
	if t.sub != nil && t.sub.Mutability == schema.ReadOnly {
		return invalid(scimtrail.ScimMutability, "%s is read-only and cannot be changed", t.name())
	}
	switch op {
	case OpAdd:
		if v == nil {
			return invalid(scimtrail.ScimInvalidValue, "add to %s needs a value", t.name())
		}
		return a.add(t, v)
	case OpReplace:
		return a.replace(t, v)
	default:
		return a.remove(t, v)
	}
}

// applyExtension handles a path naming a whole extension: add and replace apply each
// attribute of the value object; remove drops the extension.
func (a *applier) applyExtension(op, urn string, v any) error {
	if op == OpRemove {
		ext, _ := a.doc[urn].(map[string]any)
		for _, k := range sortedKeys(ext) {
			if err := a.applyAt(OpRemove, Path{URN: urn, Attr: k}, nil); err != nil {
				return err
			}
		}
		delete(a.doc, urn)
		return nil
	}
	if v == nil && op == OpReplace {
		return a.applyExtension(OpRemove, urn, nil)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return invalid(scimtrail.ScimInvalidValue, "%s of extension %s needs an object of its attributes, got %s", op, urn, describe(v))
	}
	for _, k := range sortedKeys(obj) {
		p, err := ParsePath(k)
		if err != nil || p.URN != "" || p.Filter != nil || p.Sub != "" {
			return invalid(scimtrail.ScimInvalidPath, "%q in extension %s is not an attribute name", k, urn)
		}
		p.URN = urn
		if err := a.applyAt(op, p, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// extension returns the defined spelling of the extension URN s, if rt has it.
func (a *applier) extension(s string) (string, bool) {
	for _, e := range a.rt.Extensions {
		if strings.EqualFold(e.Schema.ID, s) {
			return e.Schema.ID, true
		}
	}
	return "", false
}

func (a *applier) resolve(p Path) (target, error) {
	t := target{path: p}
	if p.Filter == nil && p.Sub == "" {
		whole := p.URN
		if p.Attr != "" {
			whole += ":" + p.Attr
		}
		if urn, ok := a.extension(whole); ok {
			t.wholeExt = urn
			return t, nil
		}
	}
	if p.URN != "" && !strings.EqualFold(p.URN, a.rt.Schema.ID) {
		urn, ok := a.extension(p.URN)
		if !ok {
			return t, invalid(scimtrail.ScimInvalidPath, "path %q: %q is not a schema of %s resources", p.String(), p.URN, a.rt.Name)
		}
		t.ext = urn
	}
	if p.Attr == "" {
		return t, invalid(scimtrail.ScimInvalidPath, "path %q: %q is not a schema of %s resources", p.String(), p.URN, a.rt.Name)
	}
	attr, ok := a.rt.Lookup(t.ext, p.Attr, "")
	if !ok {
		where := a.rt.Name
		if t.ext != "" {
			where = "extension " + t.ext
		}
		return t, invalid(scimtrail.ScimInvalidPath, "path %q: %s has no attribute %q", p.String(), where, p.Attr)
	}
	t.attr = attr
	if p.Filter != nil {
		if !attr.MultiValued {
			return t, invalid(scimtrail.ScimInvalidPath, "path %q: a value filter selects values of a multi-valued attribute, but %s is single-valued", p.String(), attr.Name)
		}
		f, err := canonicalFilter(attr, p.Filter)
		if err != nil {
			return t, invalid(scimtrail.ScimInvalidPath, "path %q: %s", p.String(), err.Error())
		}
		t.filter = f
	}
	if p.Sub != "" {
		sub, ok := attr.Sub(p.Sub)
		if !ok {
			if attr.Type != filter.TypeComplex {
				return t, invalid(scimtrail.ScimInvalidPath, "path %q: %s is not complex and has no sub-attributes", p.String(), attr.Name)
			}
			return t, invalid(scimtrail.ScimInvalidPath, "path %q: %s has no sub-attribute %q", p.String(), attr.Name, p.Sub)
		}
		t.sub = sub
	}
	return t, nil
}

// name renders the target for messages, with attribute names as defined.
func (t target) name() string {
	s := t.attr.Name
	if t.ext != "" {
		s = t.ext + ":" + s
	}
	if t.filter != nil {
		s += "[" + filter.String(t.filter) + "]"
	}
	if t.sub != nil {
		s += "." + t.sub.Name
	}
	return s
}

// container returns the object holding the target attribute: the document, or the
// extension's object (created when create is set).
func (a *applier) container(t target, create bool) map[string]any {
	if t.ext == "" {
		return a.doc
	}
	m, ok := a.doc[t.ext].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		a.doc[t.ext] = m
	}
	return m
}

func (a *applier) add(t target, v any) error {
	attr := t.attr
	switch {
	case t.filter != nil:
		return a.setMatching(OpAdd, t, v)
	case t.sub != nil:
		if attr.MultiValued {
			return multiSubErr(t)
		}
		nv, err := canonSimple(t.sub, v, t.name())
		if err != nil {
			return err
		}
		if nv == nil {
			return nil
		}
		c := a.container(t, true)
		obj, _ := c[attr.Name].(map[string]any)
		if obj == nil {
			obj = map[string]any{}
		}
		obj[t.sub.Name] = nv
		c[attr.Name] = obj
		return nil
	case attr.MultiValued:
		// RFC 7644 §3.5.2.1: "If the target location specifies a multi-valued attribute, a
		// new value is added to the attribute", and "If the target location already
		// contains the value specified, no changes SHOULD be made to the resource".
		vals, err := canonMulti(attr, v, t.name())
		if err != nil {
			return err
		}
		if len(vals) == 0 {
			return nil
		}
		c := a.container(t, true)
		cur := elementsOf(c[attr.Name])
		var touched []int
		for _, nv := range vals {
			if i := slices.IndexFunc(cur, func(x any) bool { return equalValue(attr, x, nv) }); i >= 0 {
				continue
			}
			cur = append(cur, nv)
			touched = append(touched, len(cur)-1)
		}
		settlePrimary(attr, cur, touched)
		c[attr.Name] = cur
		return nil
	case attr.Type == filter.TypeComplex:
		return a.mergeComplex(t, v)
	default:
		nv, err := canonSimple(attr, v, t.name())
		if err != nil {
			return err
		}
		if nv == nil {
			return nil
		}
		a.container(t, true)[attr.Name] = nv
		return nil
	}
}

// mergeComplex sets the sub-attributes v gives on a single-valued complex attribute and
// leaves the others alone (RFC 7644 §3.5.2.3: "Sub-attributes that are not specified in the
// "value" parameter are left unchanged"); a null sub-attribute is unassigned.
func (a *applier) mergeComplex(t target, v any) error {
	attr := t.attr
	in, ok := v.(map[string]any)
	if !ok {
		return invalid(scimtrail.ScimInvalidValue, "%s is complex; its value must be an object of sub-attributes, got %s", t.name(), describe(v))
	}
	c := a.container(t, true)
	obj, _ := c[attr.Name].(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	for _, k := range sortedKeys(in) {
		sub, ok := attr.Sub(k)
		if !ok {
			return invalid(scimtrail.ScimInvalidPath, "%s has no sub-attribute %q", t.name(), k)
		}
		if sub.Mutability == schema.ReadOnly {
			return invalid(scimtrail.ScimMutability, "%s.%s is read-only and cannot be changed", t.name(), sub.Name)
		}
		nv, err := canonSimple(sub, in[k], t.name()+"."+sub.Name)
		if err != nil {
			return err
		}
		if nv == nil {
			delete(obj, sub.Name)
		} else {
			obj[sub.Name] = nv
		}
	}
	if len(obj) == 0 {
		delete(c, attr.Name)
	} else {
		c[attr.Name] = obj
	}
	return nil
}

func (a *applier) replace(t target, v any) error {
	attr := t.attr
	switch {
	case t.filter != nil:
		return a.setMatching(OpReplace, t, v)
	case t.sub != nil:
		if attr.MultiValued {
			return multiSubErr(t)
		}
		if v == nil {
			return a.remove(t, nil)
		}
		return a.add(t, v)
	case attr.MultiValued:
		// RFC 7644 §3.5.2.3: "If the target location is a multi-valued attribute and no
		// filter is specified, the attribute and all values are replaced."
		vals, err := canonMulti(attr, v, t.name())
		if err != nil {
			return err
		}
		var out []any
		var touched []int
		for _, nv := range vals {
			if !slices.ContainsFunc(out, func(x any) bool { return equalValue(attr, x, nv) }) {
				out = append(out, nv)
				touched = append(touched, len(out)-1)
			}
		}
		c := a.container(t, true)
		if len(out) == 0 {
			delete(c, attr.Name)
			return nil
		}
		settlePrimary(attr, out, touched)
		c[attr.Name] = out
		return nil
	case v == nil:
		return a.remove(t, nil)
	case attr.Type == filter.TypeComplex:
		return a.mergeComplex(t, v)
	default:
		return a.add(t, v)
	}
}

// setMatching is add or replace through a value filter: "attr[filter]" or
// "attr[filter].sub".
func (a *applier) setMatching(op string, t target, v any) error {
	attr := t.attr
	c := a.container(t, true)
	cur := elementsOf(c[attr.Name])
	var hits []int
	for i, el := range cur {
		if matchElement(attr, t.filter, el) {
			hits = append(hits, i)
		}
	}
	if len(hits) == 0 {
		if op == OpReplace {
			// RFC 7644 §3.5.2.3: "If the target location is a multi-valued attribute for
			// which a value selection filter ("valuePath") has been supplied and no record
			// match was made, the service provider SHALL indicate failure by returning HTTP
			// status code 400 and a "scimType" error code of "noTarget"."
			return invalid(scimtrail.ScimNoTarget, "no value of %s matches [%s]; nothing to replace", attr.Name, filter.String(t.filter))
		}
		// add through a filter that matches nothing creates the value the filter
		// describes, when it describes one (emails[type eq "work"].value): that is how
		// IdPs add a typed value, and the RFC leaves the case open.
		el, ok := filterValue(attr, t.filter)
		if !ok {
			return invalid(scimtrail.ScimNoTarget, "no value of %s matches [%s], and the filter does not describe a new value (use eq and \"and\" only)", attr.Name, filter.String(t.filter))
		}
		if t.sub != nil {
			nv, err := canonSimple(t.sub, v, t.name())
			if err != nil {
				return err
			}
			if nv != nil {
				el[t.sub.Name] = nv
			}
		} else {
			nv, err := canonElement(attr, v, t.name())
			if err != nil {
				return err
			}
			for k, x := range nv.(map[string]any) {
				el[k] = x
			}
		}
		cur = append(cur, el)
		settlePrimary(attr, cur, []int{len(cur) - 1})
		c[attr.Name] = cur
		return nil
	}
	for _, i := range hits {
		switch {
		case t.sub != nil:
			nv, err := canonSimple(t.sub, v, t.name())
			if err != nil {
				return err
			}
			el, ok := cur[i].(map[string]any)
			if !ok {
				return invalid(scimtrail.ScimInvalidPath, "%s values are not complex", attr.Name)
			}
			if nv == nil {
				delete(el, t.sub.Name)
			} else {
				el[t.sub.Name] = nv
			}
		case op == OpReplace:
			// RFC 7644 §3.5.2.3: "all matching record values SHALL be replaced".
			if v == nil {
				return invalid(scimtrail.ScimInvalidValue, "replace of %s needs a value; use remove to delete values", t.name())
			}
			nv, err := canonElement(attr, v, t.name())
			if err != nil {
				return err
			}
			cur[i] = nv
		default:
			nv, err := canonElement(attr, v, t.name())
			if err != nil {
				return err
			}
			if el, ok := cur[i].(map[string]any); ok {
				for k, x := range nv.(map[string]any) {
					el[k] = x
				}
			} else {
				cur[i] = nv
			}
		}
	}
	cur = slices.DeleteFunc(cur, func(x any) bool { return !hasValue(x) })
	settlePrimary(attr, cur, hits)
	if len(cur) == 0 {
		delete(c, attr.Name)
	} else {
		c[attr.Name] = cur
	}
	return nil
}

func (a *applier) remove(t target, v any) error {
	attr := t.attr
	c := a.container(t, false)
	if c == nil {
		return nil
	}
	cur, present := c[attr.Name]
	if !present {
		return nil
	}
	switch {
	case t.filter != nil || (attr.MultiValued && (t.sub != nil || v != nil)):
		var vals []any
		if t.filter == nil && t.sub == nil {
			// A remove with a value on a multi-valued attribute removes the values given, as
			// Entra does for members; it must never drop the values it did not name.
			var err error
			if vals, err = canonMulti(attr, v, t.name()); err != nil {
				return err
			}
		}
		els := elementsOf(cur)
		out := els[:0:0]
		for _, el := range els {
			hit := true
			switch {
			case t.filter != nil:
				hit = matchElement(attr, t.filter, el)
			case vals != nil:
				hit = slices.ContainsFunc(vals, func(x any) bool { return coversValue(attr, x, el) })
			}
			if !hit {
				out = append(out, el)
				continue
			}
			if t.sub != nil {
				if obj, ok := el.(map[string]any); ok {
					delete(obj, t.sub.Name)
					if len(obj) > 0 {
						out = append(out, obj)
					}
				}
			}
			// RFC 7644 §3.5.2.2: "If the target location is a multi-valued attribute and a
			// complex filter is specified comparing a "value", the values matched by the
			// filter are removed."
		}
		// A filter matching nothing removes nothing: the RFC asks noTarget only of replace,
		// and IdPs retry removes, so a repeated remove must not fail.
		if len(out) == 0 {
			// "If no other values remain after removal of the selected values, the
			// multi-valued attribute SHALL be considered unassigned."
			delete(c, attr.Name)
		} else {
			c[attr.Name] = out
		}
	case t.sub != nil:
		obj, _ := cur.(map[string]any)
		delete(obj, t.sub.Name)
		if len(obj) == 0 {
			delete(c, attr.Name)
		}
	default:
		// "If the target location is a single-value attribute, the attribute and its
		// associated value is removed" and, without a filter on a multi-valued attribute,
		// "the attribute and all values are removed".
		delete(c, attr.Name)
	}
	return nil
}

// settleExtensions drops extension objects left empty and makes "schemas" the core URN
// followed by the extensions present, as schema.Normalize renders it: adding an extension
// attribute adds its URN, removing the last one removes it.
func (a *applier) settleExtensions() {
	schemas := []any{a.rt.Schema.ID}
	for _, e := range a.rt.Extensions {
		urn := e.Schema.ID
		v, ok := a.doc[urn]
		if !ok {
			continue
		}
		if m, isObj := v.(map[string]any); isObj && len(m) == 0 || v == nil {
			delete(a.doc, urn)
			continue
		}
		schemas = append(schemas, urn)
	}
	a.doc["schemas"] = schemas
}

// checkInvariants compares the result with the original for what no single operation can
// judge alone: immutable attributes that had a value keep it (RFC 7643 §2.2: "the attribute
// SHALL NOT be updated" once set; RFC 7644 §3.5.2 lets a client "add" a value to an
// immutable attribute only "if the attribute had no previous value"), and required
// attributes stay assigned (RFC 7644 §3.5.2.2: removing a required attribute is a
// "mutability" error).
func (a *applier) checkInvariants(orig map[string]any) error {
	check := func(ext string, attrs []schema.Attribute) error {
		oldC, newC := orig, a.doc
		if ext != "" {
			oldC, _ = orig[ext].(map[string]any)
			newC, _ = a.doc[ext].(map[string]any)
		}
		for i := range attrs {
			attr := &attrs[i]
			name := attr.Name
			if ext != "" {
				name = ext + ":" + name
			}
			oldV, newV := oldC[attr.Name], newC[attr.Name]
			if attr.Mutability == schema.Immutable && hasValue(oldV) && !equalJSON(oldV, newV) {
				return invalid(scimtrail.ScimMutability, "%s is immutable and already has a value; it cannot be changed", name)
			}
			if attr.Required && hasValue(oldV) && !hasValue(newV) {
				return invalid(scimtrail.ScimMutability, "%s is required and cannot be removed", name)
			}
			if attr.MultiValued || attr.Type != filter.TypeComplex {
				continue
			}
			oldObj, _ := oldV.(map[string]any)
			newObj, _ := newV.(map[string]any)
			for j := range attr.SubAttributes {
				sub := &attr.SubAttributes[j]
				if sub.Mutability == schema.Immutable && hasValue(oldObj[sub.Name]) && !equalJSON(oldObj[sub.Name], newObj[sub.Name]) {
					return invalid(scimtrail.ScimMutability, "%s.%s is immutable and already has a value; it cannot be changed", name, sub.Name)
				}
			}
		}
		return nil
	}
	if err := check("", a.rt.Schema.Attributes); err != nil {
		return err
	}
	for _, e := range a.rt.Extensions {
		if err := check(e.Schema.ID, e.Schema.Attributes); err != nil {
			return err
		}
	}
	return nil
}

func multiSubErr(t target) error {
	return invalid(scimtrail.ScimInvalidPath, "%s is multi-valued: select the values to change with a filter, as in %s[type eq \"work\"].%s", t.attr.Name, t.attr.Name, t.sub.Name)
}

// settlePrimary keeps RFC 7643 §2.4 ("The primary attribute value "true" MUST appear no
// more than once") after a change: a value just set primary wins, and the others lose
// their primary flag.
func settlePrimary(attr *schema.Attribute, els []any, touched []int) {
	if _, ok := attr.Sub("primary"); !ok {
		return
	}
	winner := -1
	for _, i := range touched {
		if i < len(els) && isPrimary(els[i]) {
			winner = i
		}
	}
	if winner < 0 {
		for i := range els {
			if isPrimary(els[i]) {
				winner = i
			}
		}
	}
	for i, el := range els {
		if i != winner && isPrimary(el) {
			delete(el.(map[string]any), "primary")
		}
	}
}

func isPrimary(el any) bool {
	obj, ok := el.(map[string]any)
	return ok && obj["primary"] == true
}

// elementSchema is the filter.Schema of one value of a multi-valued attribute, against
// which a value filter's paths ("type" in emails[type eq "work"]) are resolved. A simple
// multi-valued attribute's value is seen as {"value": v}.
type elementSchema struct{ attr *schema.Attribute }

func (s elementSchema) Attribute(p filter.AttrPath) (filter.AttrInfo, bool) {
	sub, ok := s.sub(p)
	if !ok {
		return filter.AttrInfo{}, false
	}
	return filter.AttrInfo{Type: sub.Type, CaseExact: sub.CaseExact}, true
}

func (s elementSchema) sub(p filter.AttrPath) (*schema.Attribute, bool) {
	if p.URN != "" || p.Sub != "" {
		return nil, false
	}
	if s.attr.Type != filter.TypeComplex {
		if strings.EqualFold(p.Attr, "value") {
			return &schema.Attribute{Name: "value", Type: s.attr.Type, CaseExact: s.attr.CaseExact}, true
		}
		return nil, false
	}
	return s.attr.Sub(p.Attr)
}

func matchElement(attr *schema.Attribute, f filter.Expr, el any) bool {
	obj, ok := el.(map[string]any)
	if attr.Type != filter.TypeComplex {
		obj, ok = map[string]any{"value": el}, true
	}
	return ok && filter.Match(f, obj, elementSchema{attr})
}

// canonicalFilter checks a value filter against the attribute's sub-attributes and returns a
// copy with their names as defined, so that error messages and MemberOp filters are stable.
func canonicalFilter(attr *schema.Attribute, e filter.Expr) (filter.Expr, error) {
	s := elementSchema{attr}
	switch e := e.(type) {
	case *filter.Logical:
		l, err := canonicalFilter(attr, e.Left)
		if err != nil {
			return nil, err
		}
		r, err := canonicalFilter(attr, e.Right)
		if err != nil {
			return nil, err
		}
		return &filter.Logical{Op: strings.ToLower(e.Op), Left: l, Right: r}, nil
	case *filter.Not:
		x, err := canonicalFilter(attr, e.X)
		if err != nil {
			return nil, err
		}
		return &filter.Not{X: x}, nil
	case *filter.Compare:
		sub, ok := s.sub(e.Path)
		if !ok {
			return nil, fmt.Errorf("the filter names %q, which is not a sub-attribute of %s", e.Path.String(), attr.Name)
		}
		c := &filter.Compare{Path: filter.AttrPath{Attr: sub.Name}, Op: e.Op, Value: e.Value}
		if err := filter.Validate(c, s); err != nil {
			var fe *filter.Error
			if errors.As(err, &fe) {
				return nil, errors.New(fe.Msg)
			}
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("a value filter cannot contain another value filter")
}

// filterValue returns the value a filter of eq comparisons joined by "and" describes.
func filterValue(attr *schema.Attribute, e filter.Expr) (map[string]any, bool) {
	if attr.Type != filter.TypeComplex {
		return nil, false
	}
	out := map[string]any{}
	var walk func(e filter.Expr) bool
	walk = func(e filter.Expr) bool {
		switch e := e.(type) {
		case *filter.Logical:
			return e.Op == "and" && walk(e.Left) && walk(e.Right)
		case *filter.Compare:
			if e.Op != filter.Eq || e.Value == nil {
				return false
			}
			sub, ok := attr.Sub(e.Path.Attr)
			if !ok || sub.Mutability == schema.ReadOnly {
				return false
			}
			v, err := canonSimple(sub, e.Value, attr.Name+"."+sub.Name)
			if err != nil {
				return false
			}
			if old, dup := out[sub.Name]; dup && !equalJSON(old, v) {
				return false
			}
			out[sub.Name] = v
			return true
		}
		return false
	}
	return out, walk(e)
}

// canonMulti checks the value of a multi-valued attribute: an array of values, or one value
// (which clients send for a single addition).
func canonMulti(attr *schema.Attribute, v any, where string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	in, ok := v.([]any)
	if !ok {
		in = []any{v}
	}
	out := make([]any, 0, len(in))
	for i, el := range in {
		if el == nil {
			continue
		}
		nv, err := canonElement(attr, el, where+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if hasValue(nv) {
			out = append(out, nv)
		}
	}
	return out, nil
}

// canonElement checks one value of a multi-valued attribute and returns a fresh copy with
// sub-attribute names as defined and null sub-attributes left out.
func canonElement(attr *schema.Attribute, v any, where string) (any, error) {
	if attr.Type != filter.TypeComplex {
		return canonSimple(attr, v, where)
	}
	in, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(scimtrail.ScimInvalidValue, "each value of %s must be an object of sub-attributes, got %s", where, describe(v))
	}
	out := make(map[string]any, len(in))
	for _, k := range sortedKeys(in) {
		sub, ok := attr.Sub(k)
		if !ok {
			return nil, invalid(scimtrail.ScimInvalidPath, "%s has no sub-attribute %q", attr.Name, k)
		}
		if sub.Mutability == schema.ReadOnly {
			return nil, invalid(scimtrail.ScimMutability, "%s.%s is read-only and cannot be changed", attr.Name, sub.Name)
		}
		if _, dup := out[sub.Name]; dup {
			return nil, invalid(scimtrail.ScimInvalidSyntax, "%s gives %s twice, in different case", where, sub.Name)
		}
		nv, err := canonSimple(sub, in[k], where+"."+sub.Name)
		if err != nil {
			return nil, err
		}
		if nv != nil {
			out[sub.Name] = nv
		}
	}
	return out, nil
}

// canonSimple checks a single value of a simple attribute against its type (RFC 7643 §2.3).
// nil means unassigned.
func canonSimple(attr *schema.Attribute, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return invalid(scimtrail.ScimInvalidValue, "%s must be a %s value, got %s", where, attr.Type, describe(v))
	}
	switch attr.Type {
	case filter.TypeBoolean:
		if _, ok := v.(bool); !ok {
			return nil, bad()
		}
	case filter.TypeInteger:
		n, ok := number(v)
		if !ok {
			return nil, bad()
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return nil, invalid(scimtrail.ScimInvalidValue, "%s must be a whole number that fits 64 bits, got %s", where, n)
		}
		return n, nil
	case filter.TypeDecimal:
		n, ok := number(v)
		if !ok {
			return nil, bad()
		}
		if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			return nil, bad()
		}
		return n, nil
	case filter.TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, invalid(scimtrail.ScimInvalidValue, "%s must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z, got %q", where, s)
		}
	case filter.TypeComplex:
		return nil, invalid(scimtrail.ScimInvalidValue, "%s is complex; give its sub-attributes", where)
	case filter.TypeBinary:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return nil, invalid(scimtrail.ScimInvalidValue, "%s must be base64-encoded binary (RFC 7643 §2.3.6)", where)
		}
	default: // string, reference
		if _, ok := v.(string); !ok {
			return nil, bad()
		}
	}
	return v, nil
}

func number(v any) (json.Number, bool) {
	switch v := v.(type) {
	case json.Number:
		return v, true
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), true
	}
	return "", false
}

// equalValue reports whether two values of attr are the same value: strings compare
// ignoring case unless the (sub-)attribute is caseExact, as filters compare them.
func equalValue(attr *schema.Attribute, x, y any) bool {
	if attr.Type != filter.TypeComplex {
		return equalSimple(attr, x, y)
	}
	xo, ok1 := x.(map[string]any)
	yo, ok2 := y.(map[string]any)
	if !ok1 || !ok2 || len(xo) != len(yo) {
		return false
	}
	for k, xv := range xo {
		yv, ok := yo[k]
		sub, known := attr.Sub(k)
		if !ok || !known || !equalSimple(sub, xv, yv) {
			return false
		}
	}
	return true
}

// coversValue reports whether el has every sub-attribute the value given to remove has.
func coversValue(attr *schema.Attribute, given, el any) bool {
	if attr.Type != filter.TypeComplex {
		return equalSimple(attr, given, el)
	}
	g, ok1 := given.(map[string]any)
	e, ok2 := el.(map[string]any)
	if !ok1 || !ok2 || len(g) == 0 {
		return false
	}
	for k, gv := range g {
		sub, _ := attr.Sub(k)
		if sub == nil || !equalSimple(sub, gv, e[k]) {
			return false
		}
	}
	return true
}

func equalSimple(attr *schema.Attribute, x, y any) bool {
	xs, ok1 := x.(string)
	ys, ok2 := y.(string)
	if ok1 && ok2 {
		if attr.CaseExact || attr.Type == filter.TypeBinary {
			return xs == ys
		}
		return strings.EqualFold(xs, ys)
	}
	return equalJSON(x, y)
}

// equalJSON reports whether two decoded JSON values are equal, numbers by value.
func equalJSON(x, y any) bool {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for k, v := range xv {
			w, ok := yv[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any, []string:
		xs, ys := elementsOf(x), elementsOf(y)
		if _, ok := y.([]any); !ok {
			if _, ok := y.([]string); !ok {
				return false
			}
		}
		return slices.EqualFunc(xs, ys, equalJSON)
	case json.Number, float64:
		xn, _ := number(xv)
		yn, ok := number(y)
		if !ok {
			return false
		}
		if xn == yn {
			return true
		}
		xf, err1 := strconv.ParseFloat(xn.String(), 64)
		yf, err2 := strconv.ParseFloat(yn.String(), 64)
		return err1 == nil && err2 == nil && xf == yf
	default:
		return x == y
	}
}

// hasValue reports whether v is assigned: RFC 7643 §2.5 makes null, an empty array and
// an empty object the same as unassigned.
func hasValue(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case []any:
		return len(v) > 0
	case []string:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// elementsOf returns the values of a multi-valued attribute as a fresh []any.
func elementsOf(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return slices.Clone(v)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

// cloneObject deep-copies a decoded JSON object, so Apply never writes into its input.
func cloneObject(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneObject(v)
	case []any:
		out := make([]any, len(v))
		for i, el := range v {
			out[i] = cloneValue(el)
		}
		return out
	case []string:
		return elementsOf(v)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describe names a JSON value's kind for error messages, without echoing the value (it
// may be a password).
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
