package filter

import (
	"fmt"
	"strings"
	"time"
)

// Validate checks e against the attributes of a resource type (RFC 7644 §3.4.2.2):
// gt, ge, lt and le need an ordered type (not boolean, not binary, and a complex
// attribute only through a sub-attribute); co, sw and ew need text; the comparison value
// must fit the attribute's type, dateTime values must be RFC 3339 instants, integer
// values whole numbers; and only eq and ne compare with null. Value filters need a
// complex attribute. Attributes the schema does not know are not errors: the RFC has
// them match nothing, and Attributes lists them for callers that want to warn.
// Errors are *Error with Pos -1; httpapi answers them with 400 invalidFilter.
func Validate(e Expr, s Schema) error {
	return validate(e, s, nil)
}

func validate(e Expr, s Schema, parent *AttrPath) error {
	switch e := e.(type) {
	case *Logical:
		if err := validate(e.Left, s, parent); err != nil {
			return err
		}
		return validate(e.Right, s, parent)
	case *Not:
		return validate(e.X, s, parent)
	case *ValuePath:
		if s != nil {
			if info, ok := attrInfo(s, e.Path); ok && info.Type != TypeComplex {
				return semantic("%s[…] filters the values of %s, but %s is a %s attribute, not a complex one", e.Path, e.Path, e.Path, info.Type)
			}
		}
		return validate(e.Filter, s, &e.Path)
	case *Compare:
		return validateCompare(e, s, parent)
	case nil:
		return semantic("the filter is empty")
	}
	return semantic("unknown expression %T", e)
}

func semantic(format string, args ...any) *Error {
	return &Error{Pos: -1, Msg: fmt.Sprintf(format, args...)}
}

func validateCompare(c *Compare, s Schema, parent *AttrPath) error {
	path := c.Path
	if parent != nil {
		path = AttrPath{URN: parent.URN, Attr: parent.Attr, Sub: c.Path.Attr}
	}
	op := Op(strings.ToLower(string(c.Op)))
	expr := String(c)
	switch op {
	case Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le:
	case Pr:
		return nil
	default:
		return semantic("%q: %q is not an operator", expr, c.Op)
	}
	if c.Value == nil {
		if op != Eq && op != Ne {
			return semantic("%q: only eq and ne can compare with null", expr)
		}
		return nil
	}
	if s == nil {
		return nil
	}
	info, ok := attrInfo(s, path)
	if !ok {
		return nil
	}
	if info.Type == TypeComplex && path.Sub == "" {
		switch op {
		case Gt, Ge, Lt, Le:
			return semantic("%q: %s is complex; %s needs one of its sub-attributes, e.g. %s.value", expr, path, op, path)
		}
		// Compared as a whole, a complex attribute compares its "value" (RFC 7644
		// §3.4.2.2 `emails co "example.com"`).
		path.Sub = "value"
		if info, ok = attrInfo(s, path); !ok {
			return nil
		}
	}
	switch info.Type {
	case TypeBoolean:
		switch op {
		case Eq, Ne:
		default:
			return semantic("%q: %s is a boolean; it can be compared only with eq, ne or pr", expr, path)
		}
		if _, ok := c.Value.(bool); !ok {
			return semantic("%q: %s is a boolean; compare it with true or false", expr, path)
		}
	case TypeInteger, TypeDecimal:
		switch op {
		case Co, Sw, Ew:
			return semantic("%q: %s is a number; %s needs text", expr, path, op)
		}
		d, ok := toDecimal(c.Value)
		if !ok {
			return semantic("%q: %s is a number; compare it with a number, without quotes", expr, path)
		}
		if info.Type == TypeInteger && !d.isInteger() {
			return semantic("%q: %s is an integer; %s is not a whole number", expr, path, valueString(c.Value))
		}
	case TypeDateTime:
		v, ok := c.Value.(string)
		if !ok {
			return semantic("%q: %s is a dateTime; compare it with a quoted RFC 3339 time such as \"2011-05-13T04:42:34Z\"", expr, path)
		}
		switch op {
		case Co, Sw, Ew:
			return nil // a substring of the text form, not an instant
		}
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return semantic("%q: %s is a dateTime; %q is not an RFC 3339 time such as \"2011-05-13T04:42:34Z\"", expr, path, v)
		}
	case TypeBinary:
		switch op {
		case Gt, Ge, Lt, Le:
			return semantic("%q: %s is binary; it cannot be ordered with %s", expr, path, op)
		}
		if _, ok := c.Value.(string); !ok {
			return semantic("%q: %s is binary; compare it with a quoted base64 string", expr, path)
		}
	case TypeString, TypeReference:
		if _, ok := c.Value.(string); !ok {
			return semantic("%q: %s is a %s; compare it with a quoted string", expr, path, info.Type)
		}
	}
	return nil
}

// Attributes lists every attribute path e touches, in order of first appearance and
// without duplicates (compared ignoring case). Paths inside a value filter are joined to
// their parent: emails[type eq "work"] lists emails.type. Callers use it to warn about
// attributes the schema does not know, which match nothing.
func Attributes(e Expr) []AttrPath {
	var out []AttrPath
	add := func(p AttrPath) {
		for _, q := range out {
			if strings.EqualFold(q.URN, p.URN) && strings.EqualFold(q.Attr, p.Attr) && strings.EqualFold(q.Sub, p.Sub) {
				return
			}
		}
		out = append(out, p)
	}
	var walk func(e Expr, parent *AttrPath)
	walk = func(e Expr, parent *AttrPath) {
		switch e := e.(type) {
		case *Logical:
			walk(e.Left, parent)
			walk(e.Right, parent)
		case *Not:
			walk(e.X, parent)
		case *ValuePath:
			walk(e.Filter, &e.Path)
		case *Compare:
			if parent != nil {
				add(AttrPath{URN: parent.URN, Attr: parent.Attr, Sub: e.Path.Attr})
			} else {
				add(e.Path)
			}
		}
	}
	walk(e, nil)
	return out
}
