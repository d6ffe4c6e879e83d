// Package filter parses SCIM filter expressions (RFC 7644 §3.4.2.2) into an AST and
// evaluates them against resources. It is pure: no I/O, no globals.
package filter

import "strings"

// Expr is a filter expression: *Compare, *Logical, *Not or *ValuePath.
type Expr interface{ expr() }

// Op is a comparison operator, lower case.
type Op string

// Comparison operators.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Pr Op = "pr"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
)

// AttrPath is an attribute path: an optional schema URN, an attribute and an optional
// sub-attribute, as written (attribute names are case-insensitive; compare with EqualFold).
type AttrPath struct {
	URN  string // "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" or ""
	Attr string // "emails"
	Sub  string // "value" or ""
}

// Is reports whether p names attr (and sub), ignoring case and a URN.
func (p AttrPath) Is(attr, sub string) bool {
	return strings.EqualFold(p.Attr, attr) && strings.EqualFold(p.Sub, sub)
}

func (p AttrPath) String() string {
	var b strings.Builder
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	b.WriteString(p.Attr)
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
	return b.String()
}

// Compare is "path op value". Value is a string, bool, nil, or a json.Number for numbers
// (kept as text so large integers are never rounded); nil for Pr.
type Compare struct {
	Path  AttrPath
	Op    Op
	Value any
}

// Logical is "left and right" or "left or right".
type Logical struct {
	Op    string // "and" or "or"
	Left  Expr
	Right Expr
}

// Not is "not (x)".
type Not struct{ X Expr }

// ValuePath is "attr[filter]", a filter over the values of a multi-valued attribute; its
// inner filter's paths are relative to those values (Attr is the sub-attribute).
type ValuePath struct {
	Path   AttrPath
	Filter Expr
}

func (*Compare) expr()   {}
func (*Logical) expr()   {}
func (*Not) expr()       {}
func (*ValuePath) expr() {}

// Attribute types, as in RFC 7643 §2.3.
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"
)

// AttrInfo is what the evaluator needs to know of an attribute to compare its values.
type AttrInfo struct {
	Type        string // one of the Type constants
	CaseExact   bool
	MultiValued bool
}

// Schema resolves attribute paths of one resource type. The scim/schema package implements
// it; the filter package does not import it, so that it stays a leaf.
type Schema interface {
	// Attribute describes the attribute at p (p.Sub set for a sub-attribute); ok is false
	// when the resource type has no such attribute.
	Attribute(p AttrPath) (info AttrInfo, ok bool)
}
