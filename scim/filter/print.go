package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// String prints e in canonical form: lower-case operators and keywords, single spaces,
// JSON-quoted strings, and parentheses only where precedence (not > and > or, left
// associative) needs them, so that Parse(String(e)) returns an AST equal to e. Attribute
// names keep their case. A nil Expr prints as "".
func String(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e, precOr)
	return b.String()
}

// Binding strengths: a Logical child binding less tightly than its parent needs
// parentheses.
const (
	precOr = iota + 1
	precAnd
	precFactor
)

func precedence(e Expr) int {
	if l, ok := e.(*Logical); ok {
		if strings.EqualFold(l.Op, "or") {
			return precOr
		}
		return precAnd
	}
	return precFactor
}

// writeExpr writes e, in parentheses when it binds less tightly than min.
func writeExpr(b *strings.Builder, e Expr, min int) {
	if precedence(e) < min {
		b.WriteByte('(')
		defer b.WriteByte(')')
	}
	switch e := e.(type) {
	case *Compare:
		b.WriteString(e.Path.String())
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(string(e.Op)))
		if !strings.EqualFold(string(e.Op), string(Pr)) {
			b.WriteByte(' ')
			writeValue(b, e.Value)
		}
	case *Logical:
		prec := precedence(e)
		writeExpr(b, e.Left, prec)
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(e.Op))
		b.WriteByte(' ')
		// The parser associates to the left, so a right operand of the same strength
		// must keep its parentheses to come back as the same tree.
		writeExpr(b, e.Right, prec+1)
	case *Not:
		b.WriteString("not (")
		writeExpr(b, e.X, precOr)
		b.WriteByte(')')
	case *ValuePath:
		b.WriteString(e.Path.String())
		b.WriteByte('[')
		writeExpr(b, e.Filter, precOr)
		b.WriteByte(']')
	}
}

// valueString prints a comparison value as it appears in a filter.
func valueString(v any) string {
	var b strings.Builder
	writeValue(&b, v)
	return b.String()
}

func writeValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(string(v))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	default:
		// Not a value Parse produces; quoting keeps the output parseable.
		writeString(b, fmt.Sprint(v))
	}
}

// writeString writes s as a JSON string. Only what JSON requires is escaped, so
// non-ASCII text stays readable in logs; invalid UTF-8 becomes U+FFFD.
func writeString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\f':
				b.WriteString(`\f`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	b.WriteByte('"')
}
