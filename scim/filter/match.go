package filter

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// coreURNPrefix starts the URN of every core schema (RFC 7643 §8.7.1). Attributes
// qualified with a core schema URN live at the top level of a resource, not under a key.
const coreURNPrefix = "urn:ietf:params:scim:schemas:core:"

// Match reports whether the resource doc (decoded JSON: objects as map[string]any, arrays
// as []any, numbers as float64 or json.Number) matches e, following RFC 7644 §3.4.2.2:
//
//   - Attribute names are looked up case-insensitively. Extension attributes are found
//     under their schema URN key; attributes qualified with a core schema URN at the top.
//   - Strings compare case-insensitively unless the schema says caseExact; dateTime values
//     compare as instants, integer and decimal values numerically and exactly.
//   - On a multi-valued attribute a comparison matches when any value matches; a complex
//     multi-valued attribute compared without a sub-attribute ("emails co x") compares
//     its "value" sub-attribute.
//   - An attribute the schema does not know never matches (so "not (…)" of it does).
//   - Unassigned, null and an empty array are the same state (RFC 7643 §2.5): "pr" is
//     false for them, as for "" and for an object with nothing present in it; "eq null"
//     is true for them and "ne null" is the same as "pr".
//   - "ne" is true when the attribute has no value. The RFC defines ne only as "not
//     identical"; an absent value is not identical to the operand, and this keeps
//     "x ne v" the same as "not (x eq v)" for single-valued attributes, which is what
//     IdPs expect of filters like `userType ne "Employee"`. For multi-valued attributes
//     ne follows the any-value rule literally: ["work","home"] ne "work" matches.
//   - A comparison that Validate would reject (e.g. gt on a boolean) matches nothing.
//
// s may be nil; then every attribute is known and types are taken from the JSON values
// (strings case-insensitive), which suits tests and ad-hoc use.
func Match(e Expr, doc map[string]any, s Schema) bool {
	m := matcher{s: s}
	return m.eval(e, doc, nil)
}

type matcher struct{ s Schema }

// eval evaluates e against obj. parent is nil at the top level and the value path's
// attribute inside "parent[…]", where obj is one value of parent and paths name its
// sub-attributes.
func (m matcher) eval(e Expr, obj map[string]any, parent *AttrPath) bool {
	switch e := e.(type) {
	case *Logical:
		if strings.EqualFold(e.Op, "or") {
			return m.eval(e.Left, obj, parent) || m.eval(e.Right, obj, parent)
		}
		return m.eval(e.Left, obj, parent) && m.eval(e.Right, obj, parent)
	case *Not:
		return !m.eval(e.X, obj, parent)
	case *ValuePath:
		if parent != nil {
			return false // the parser never nests value paths
		}
		if info, ok := m.info(e.Path); !ok || (m.s != nil && info.Type != TypeComplex) {
			return false
		}
		v, _ := lookupPath(obj, AttrPath{URN: e.Path.URN, Attr: e.Path.Attr})
		for _, el := range elements(v) {
			if el, ok := el.(map[string]any); ok && m.eval(e.Filter, el, &e.Path) {
				return true
			}
		}
		return false
	case *Compare:
		return m.compare(e, obj, parent)
	}
	return false
}

// info describes p through the schema, falling back to the common attributes of RFC
// 7643 §3.1, which every resource has whether or not its schema lists them. Resolving a
// core schema URN is the schema's job: only it knows which core schema is its own.
func (m matcher) info(p AttrPath) (AttrInfo, bool) {
	return attrInfo(m.s, p)
}

func attrInfo(s Schema, p AttrPath) (AttrInfo, bool) {
	if s == nil {
		return AttrInfo{}, true
	}
	if info, ok := s.Attribute(p); ok {
		return info, true
	}
	return commonAttribute(p)
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// commonAttribute describes the attributes RFC 7643 §3.1 gives every resource.
func commonAttribute(p AttrPath) (AttrInfo, bool) {
	if p.URN != "" && !hasFoldPrefix(p.URN, coreURNPrefix) {
		return AttrInfo{}, false
	}
	switch {
	case p.Is("id", ""), p.Is("externalId", ""):
		return AttrInfo{Type: TypeString, CaseExact: true}, true
	case p.Is("schemas", ""):
		return AttrInfo{Type: TypeReference, CaseExact: true, MultiValued: true}, true
	case p.Is("meta", ""):
		return AttrInfo{Type: TypeComplex}, true
	case p.Is("meta", "created"), p.Is("meta", "lastModified"):
		return AttrInfo{Type: TypeDateTime}, true
	case p.Is("meta", "resourceType"), p.Is("meta", "version"):
		return AttrInfo{Type: TypeString, CaseExact: true}, true
	case p.Is("meta", "location"):
		return AttrInfo{Type: TypeReference, CaseExact: true}, true
	}
	return AttrInfo{}, false
}

// lookup finds key in obj, exactly first and then ignoring case, because attribute names
// are case-insensitive (RFC 7643 §2.1) but most documents use the schema's spelling.
func lookup(obj map[string]any, key string) (any, bool) {
	if v, ok := obj[key]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// lookupPath returns the value at p in obj: a single value, or []any for multi-valued
// attributes and for a sub-attribute of a multi-valued complex attribute.
func lookupPath(obj map[string]any, p AttrPath) (any, bool) {
	container := obj
	if p.URN != "" {
		ext, _ := lookup(obj, p.URN)
		if m, ok := ext.(map[string]any); ok {
			container = m
		} else if !hasFoldPrefix(p.URN, coreURNPrefix) {
			return nil, false
		}
	}
	v, ok := lookup(container, p.Attr)
	if !ok || p.Sub == "" {
		return v, ok
	}
	switch v := v.(type) {
	case map[string]any:
		return lookup(v, p.Sub)
	case []any:
		var out []any
		for _, el := range v {
			if el, ok := el.(map[string]any); ok {
				if sv, ok := lookup(el, p.Sub); ok {
					out = append(out, elements(sv)...)
				}
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// elements returns the values of v: its elements if it is an array, else v itself.
func elements(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

// present reports whether v has a non-empty value (RFC 7644 §3.4.2.2 "pr").
func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		for _, el := range v {
			if present(el) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range v {
			if present(el) {
				return true
			}
		}
		return false
	}
	return true
}

func (m matcher) compare(c *Compare, obj map[string]any, parent *AttrPath) bool {
	path := c.Path
	if parent != nil {
		// Inside parent[…], c.Path.Attr is a sub-attribute of parent.
		path = AttrPath{URN: parent.URN, Attr: parent.Attr, Sub: c.Path.Attr}
	}
	info, ok := m.info(path)
	if !ok {
		return false
	}
	var v any
	if parent != nil {
		v, _ = lookup(obj, c.Path.Attr)
	} else {
		v, _ = lookupPath(obj, path)
	}
	op := Op(strings.ToLower(string(c.Op)))
	if op == Pr {
		return present(v)
	}
	if c.Value == nil {
		switch op {
		case Eq:
			return !present(v)
		case Ne:
			return present(v)
		}
		return false
	}
	values := elements(v)
	// A complex attribute compared as a whole compares its "value" sub-attribute
	// (RFC 7644 §3.4.2.2: `emails co "example.com"` against the emails' values).
	if path.Sub == "" && (info.Type == TypeComplex || m.s == nil && isComplexValues(values)) {
		switch op {
		case Gt, Ge, Lt, Le:
			return false
		}
		path.Sub = "value"
		if info, ok = m.info(path); !ok {
			return false
		}
		var sub []any
		for _, el := range values {
			if el, ok := el.(map[string]any); ok {
				if sv, ok := lookup(el, "value"); ok {
					sub = append(sub, elements(sv)...)
				}
			}
		}
		values = sub
	}
	anyPresent := false
	for _, el := range values {
		if el == nil {
			continue
		}
		anyPresent = true
		if compareValue(el, op, c.Value, info, m.s == nil) {
			return true
		}
	}
	return op == Ne && !anyPresent
}

func isComplexValues(values []any) bool {
	for _, v := range values {
		if _, ok := v.(map[string]any); ok {
			return true
		}
	}
	return false
}

// compareValue compares one attribute value v with the operand by the attribute's type.
// With inferred set (no schema), the type comes from v itself.
func compareValue(v any, op Op, operand any, info AttrInfo, inferred bool) bool {
	typ := info.Type
	if inferred {
		switch v.(type) {
		case string:
			typ = TypeString
		case bool:
			typ = TypeBoolean
		case float64, json.Number, int, int64:
			typ = TypeDecimal
		default:
			typ = TypeComplex
		}
	}
	switch typ {
	case TypeBoolean:
		vb, ok1 := v.(bool)
		ob, ok2 := operand.(bool)
		if !ok1 || !ok2 {
			return op == Ne
		}
		switch op {
		case Eq:
			return vb == ob
		case Ne:
			return vb != ob
		}
		return false
	case TypeInteger, TypeDecimal:
		vd, ok1 := toDecimal(v)
		od, ok2 := toDecimal(operand)
		if !ok1 || !ok2 {
			return op == Ne
		}
		return ordered(op, vd.cmp(od))
	case TypeDateTime:
		vs, ok1 := v.(string)
		os, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return op == Ne
		}
		switch op {
		case Co, Sw, Ew:
			return compareString(op, vs, os, false)
		}
		vt, err1 := time.Parse(time.RFC3339Nano, vs)
		ot, err2 := time.Parse(time.RFC3339Nano, os)
		if err1 != nil || err2 != nil {
			return compareString(op, vs, os, false)
		}
		return ordered(op, vt.Compare(ot))
	case TypeString, TypeReference, TypeBinary:
		vs, ok1 := v.(string)
		os, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return op == Ne
		}
		if typ == TypeBinary {
			switch op {
			case Gt, Ge, Lt, Le:
				return false
			}
		}
		return compareString(op, vs, os, info.CaseExact || typ == TypeBinary)
	}
	return false
}

// ordered applies an equality or ordering operator to a three-way comparison result.
func ordered(op Op, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	}
	return false
}

func compareString(op Op, v, operand string, caseExact bool) bool {
	if !caseExact {
		v, operand = Fold(v), Fold(operand)
	}
	switch op {
	case Co:
		return strings.Contains(v, operand)
	case Sw:
		return strings.HasPrefix(v, operand)
	case Ew:
		return strings.HasSuffix(v, operand)
	}
	// Ordering of strings is lexicographic by code point (RFC 7644 §3.4.2.2 "gt").
	return ordered(op, strings.Compare(v, operand))
}

// Fold is the case-insensitive form of a string: NFC, then lower case. The stores keep
// folded keys (userName, emails, displayName) in this form and compile caseExact=false
// comparisons against it, so a filter evaluated in memory and one compiled to SQL agree,
// also for decomposed input such as "C\u0327" (Ç).
func Fold(s string) string { return strings.ToLower(norm.NFC.String(s)) }

// decimal is an exact decimal number: value = sign × 0.digits × 10^exp, with digits free
// of leading and trailing zeros (empty for zero). Comparing this form needs no big
// arithmetic, so a huge exponent costs nothing.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

// maxExp saturates exponents; filters are at most MaxLength bytes, so any two numbers
// with exponents beyond this compare as equal only if both are out of any real range.
const maxExp = 1 << 40

func toDecimal(v any) (decimal, bool) {
	switch v := v.(type) {
	case json.Number:
		return parseDecimal(string(v))
	case float64:
		return parseDecimal(strconv.FormatFloat(v, 'g', -1, 64))
	case int:
		return parseDecimal(strconv.Itoa(v))
	case int64:
		return parseDecimal(strconv.FormatInt(v, 10))
	}
	return decimal{}, false
}

// parseDecimal parses JSON number text exactly.
func parseDecimal(s string) (decimal, bool) {
	if !isJSONNumber(s) {
		return decimal{}, false
	}
	var d decimal
	if s[0] == '-' {
		d.neg = true
		s = s[1:]
	}
	mant, expText, _ := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	var exp int64
	if expText != "" {
		neg := expText[0] == '-'
		expText = strings.TrimLeft(expText, "+-")
		for i := 0; i < len(expText); i++ {
			exp = exp*10 + int64(expText[i]-'0')
			if exp > maxExp {
				exp = maxExp
				break
			}
		}
		if neg {
			exp = -exp
		}
	}
	all := intPart + frac
	exp += int64(len(intPart))
	trimmed := strings.TrimLeft(all, "0")
	exp -= int64(len(all) - len(trimmed))
	d.digits = strings.TrimRight(trimmed, "0")
	d.exp = exp
	if d.digits == "" {
		return decimal{}, true // zero, whatever its sign
	}
	return d, true
}

// cmp returns -1, 0 or +1 as d is less than, equal to or greater than o.
func (d decimal) cmp(o decimal) int {
	ds, os := d.sign(), o.sign()
	if ds != os {
		if ds < os {
			return -1
		}
		return 1
	}
	if ds == 0 {
		return 0
	}
	mag := 0 // comparison of magnitudes
	switch {
	case d.exp != o.exp:
		if d.exp > o.exp {
			mag = 1
		} else {
			mag = -1
		}
	default:
		mag = strings.Compare(d.digits, o.digits) // no trailing zeros, so this is numeric
	}
	return mag * ds
}

func (d decimal) sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// isInteger reports whether d has no fractional part.
func (d decimal) isInteger() bool {
	return d.digits == "" || d.exp >= int64(len(d.digits))
}
