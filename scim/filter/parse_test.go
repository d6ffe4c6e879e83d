package filter_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/scim/filter"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func cmpEq(path filter.AttrPath, op filter.Op, v any) *filter.Compare {
	return &filter.Compare{Path: path, Op: op, Value: v}
}

func attr(a string) filter.AttrPath    { return filter.AttrPath{Attr: a} }
func sub(a, s string) filter.AttrPath  { return filter.AttrPath{Attr: a, Sub: s} }
func and(l, r filter.Expr) filter.Expr { return &filter.Logical{Op: "and", Left: l, Right: r} }
func or(l, r filter.Expr) filter.Expr  { return &filter.Logical{Op: "or", Left: l, Right: r} }
func mustParse(t testing.TB, s string) filter.Expr {
	t.Helper()
	e, err := filter.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return e
}

// TestParseRFCExamples parses every example filter of RFC 7644 §3.4.2.2 (the list after
// Figure 2) and checks that the canonical form shows the parse, precedence included.
func TestParseRFCExamples(t *testing.T) {
	tests := []struct{ in, want string }{
		{`userName eq "bjensen"`, `userName eq "bjensen"`},
		{`name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`},
		{`userName sw "J"`, `userName sw "J"`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`},
		{`title pr`, `title pr`},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, `meta.lastModified ge "2011-05-13T04:42:34Z"`},
		{`meta.lastModified lt "2011-05-13T04:42:34Z"`, `meta.lastModified lt "2011-05-13T04:42:34Z"`},
		{`meta.lastModified le "2011-05-13T04:42:34Z"`, `meta.lastModified le "2011-05-13T04:42:34Z"`},
		{`title pr and userType eq "Employee"`, `title pr and userType eq "Employee"`},
		{`title pr or userType eq "Intern"`, `title pr or userType eq "Intern"`},
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
			`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
			`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`},
		// Redundant grouping disappears: the AST has no node for it.
		{`userType eq "Employee" and (emails.type eq "work")`, `userType eq "Employee" and emails.type eq "work"`},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
			`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`},
		{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
			`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`},
		// §3.4.2.2: "The attribute name and attribute operator are case insensitive."
		{`userName Eq "john"`, `userName eq "john"`},
		{`Username eq "john"`, `Username eq "john"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e := mustParse(t, tt.in)
			if got := filter.String(e); got != tt.want {
				t.Fatalf("String(Parse(%q))\n got %s\nwant %s", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(e, mustParse(t, filter.String(e))); diff != "" {
				t.Fatalf("Parse(String(e)) differs (-e +reparsed):\n%s", diff)
			}
		})
	}
}

func TestParseAST(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want filter.Expr
	}{
		// §3.4.2.2: "not" takes precedence over "and", which takes precedence over "or".
		{"AndBindsTighterThanOr", `a pr or b pr and c pr`,
			or(cmpEq(attr("a"), filter.Pr, nil), and(cmpEq(attr("b"), filter.Pr, nil), cmpEq(attr("c"), filter.Pr, nil)))},
		{"OrIsLeftAssociative", `a pr or b pr or c pr`,
			or(or(cmpEq(attr("a"), filter.Pr, nil), cmpEq(attr("b"), filter.Pr, nil)), cmpEq(attr("c"), filter.Pr, nil))},
		{"ParenthesesGroup", `(a pr or b pr) and c pr`,
			and(or(cmpEq(attr("a"), filter.Pr, nil), cmpEq(attr("b"), filter.Pr, nil)), cmpEq(attr("c"), filter.Pr, nil))},
		{"NotBindsTightest", `not (a pr) and b pr`,
			and(&filter.Not{X: cmpEq(attr("a"), filter.Pr, nil)}, cmpEq(attr("b"), filter.Pr, nil))},
		{"NotWithoutSpace", `NOT(a pr)`, &filter.Not{X: cmpEq(attr("a"), filter.Pr, nil)}},
		{"AttributeNamedNot", `not pr`, cmpEq(attr("not"), filter.Pr, nil)},
		{"KeywordsCaseInsensitive", `a EQ TRUE AND b Ne False oR c eq NULL`,
			or(and(cmpEq(attr("a"), filter.Eq, true), cmpEq(attr("b"), filter.Ne, false)), cmpEq(attr("c"), filter.Eq, nil))},
		{"EnterpriseURN", enterprise + `:employeeNumber eq "701984"`,
			cmpEq(filter.AttrPath{URN: enterprise, Attr: "employeeNumber"}, filter.Eq, "701984")},
		{"EnterpriseURNSubAttribute", enterprise + `:manager.value eq "26118915"`,
			cmpEq(filter.AttrPath{URN: enterprise, Attr: "manager", Sub: "value"}, filter.Eq, "26118915")},
		{"Ref", `members.$ref pr`, cmpEq(sub("members", "$ref"), filter.Pr, nil)},
		{"NameChars", `x-Y_9 pr`, cmpEq(attr("x-Y_9"), filter.Pr, nil)},
		{"ValuePath", `emails[type eq "work"]`,
			&filter.ValuePath{Path: attr("emails"), Filter: cmpEq(attr("type"), filter.Eq, "work")}},
		{"URNValuePath", enterprise + `:manager[value eq "x"]`,
			&filter.ValuePath{Path: filter.AttrPath{URN: enterprise, Attr: "manager"}, Filter: cmpEq(attr("value"), filter.Eq, "x")}},
		// Numbers stay text (RFC 7644 compValue uses the JSON number rule); nothing is rounded.
		{"BigInteger", `n eq 123456789012345678901234567890`, cmpEq(attr("n"), filter.Eq, json.Number("123456789012345678901234567890"))},
		{"Decimal", `n gt -1.50e+3`, cmpEq(attr("n"), filter.Gt, json.Number("-1.50e+3"))},
		{"Zero", `n eq 0`, cmpEq(attr("n"), filter.Eq, json.Number("0"))},
		// JSON string escapes (RFC 8259 §7), including a surrogate pair.
		{"Escapes", `s eq "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, cmpEq(attr("s"), filter.Eq, "\"\\/\b\f\n\r\té😀")},
		{"RawUnicode", `s eq "Zoë 😀"`, cmpEq(attr("s"), filter.Eq, "Zoë 😀")},
		{"ExtraWhitespace", "  a   eq\t\"x\"  and ( b pr )  ", and(cmpEq(attr("a"), filter.Eq, "x"), cmpEq(attr("b"), filter.Pr, nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(got, mustParse(t, filter.String(got))); diff != "" {
				t.Fatalf("Parse(String(e)) for %q (-e +reparsed):\n%s", filter.String(got), diff)
			}
		})
	}
}

func TestStringAddsNeededParentheses(t *testing.T) {
	a, b, c := cmpEq(attr("a"), filter.Pr, nil), cmpEq(attr("b"), filter.Pr, nil), cmpEq(attr("c"), filter.Pr, nil)
	tests := []struct {
		e    filter.Expr
		want string
	}{
		{and(or(a, b), c), `(a pr or b pr) and c pr`},
		{or(a, and(b, c)), `a pr or b pr and c pr`},
		{or(a, or(b, c)), `a pr or (b pr or c pr)`},
		{and(a, and(b, c)), `a pr and (b pr and c pr)`},
		{and(and(a, b), c), `a pr and b pr and c pr`},
		{&filter.Not{X: or(a, b)}, `not (a pr or b pr)`},
		{cmpEq(attr("s"), filter.Eq, "a\"b\\c\n\x01é"), `s eq "a\"b\\c\n\u0001é"`},
	}
	for _, tt := range tests {
		if got := filter.String(tt.e); got != tt.want {
			t.Errorf("String\n got %s\nwant %s", got, tt.want)
		}
		if diff := cmp.Diff(tt.e, mustParse(t, tt.want)); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.want, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		pos     int
		msgPart string
	}{
		{"Empty", ``, 0, "empty"},
		{"Blank", `   `, 0, "empty"},
		{"MissingOperator", `userName`, 8, `expected an operator after "userName"`},
		{"UnknownOperator", `userName equals "x"`, 9, `found "equals"`},
		{"MissingValue", `userName eq`, 11, `expected a value after "eq"`},
		{"UnquotedString", `userName eq bjensen`, 12, "double quotes"},
		{"UnterminatedString", `userName eq "bjensen`, 12, `no closing '"'`},
		{"BadEscapeControl", "userName eq \"a\\\tb\"", 14, "a backslash followed by"},
		{"BadEscape", `userName eq "a\qb"`, 14, `invalid escape "\q"`},
		{"ShortUnicodeEscape", `userName eq "\u12"`, 13, "four hex digits"},
		{"NonHexUnicodeEscape", `userName eq "\u12zz"`, 13, "four hex digits"},
		{"LoneHighSurrogate", `userName eq "\uD83D"`, 13, "surrogate pair"},
		{"LoneLowSurrogate", `userName eq "\uDE00"`, 13, "second half"},
		{"HighSurrogateThenNonLow", `userName eq "\uD83D\u0041"`, 19, "surrogate pair"},
		{"RawControlCharacter", "userName eq \"a\nb\"", 14, "control character"},
		{"InvalidUTF8", "userName eq \"a\xffb\"", 14, "UTF-8"},
		{"BadNumber", `n eq 01`, 5, "not a number"},
		{"BadNumberFraction", `n eq 1.`, 5, "not a number"},
		{"BadNumberExponent", `n eq 1e`, 5, "not a number"},
		{"NumberWithGarbage", `n eq 12abc`, 5, "not a number"},
		{"PlusNumber", `n eq +1`, 5, "expected a value"},
		{"UnbalancedOpen", `(a pr`, 5, "expected ')' to close the '(' at position 0"},
		{"UnbalancedClose", `a pr)`, 4, "no matching '('"},
		{"UnbalancedBracket", `emails[type pr`, 14, "expected ']'"},
		{"StrayBracket", `a pr]`, 4, "no matching '['"},
		{"EmptyGroup", `()`, 1, "expected an attribute"},
		{"EmptyValuePath", `emails[]`, 7, "empty"},
		{"TrailingGarbage", `a pr b pr`, 5, `expected "and", "or" or the end of the filter, found "b"`},
		{"DanglingAnd", `a pr and`, 8, "found the end of the filter"},
		{"NotWithoutParen", `not a pr`, 4, "expected an operator"},
		// RFC 7644 §3.5.2: "emails[type eq \"work\"].value" is a PATCH path, not a filter.
		{"PatchPathInFilter", `emails[type eq "work"].value eq "x"`, 22, "only PATCH paths allow"},
		{"NestedValuePath", `emails[x[y pr]]`, 8, "cannot nest"},
		{"SubAttributeInsideBrackets", `emails[type.x pr]`, 7, "sub-attribute name"},
		{"ValuePathOnSubAttribute", `name.givenName[x pr]`, 0, "not a sub-attribute"},
		{"TwoSubAttributes", `a.b.c pr`, 0, "more than one sub-attribute"},
		{"NameStartsWithDigit", `1abc pr`, 0, "start with a letter"},
		{"BadNameChar", `user*Name pr`, 4, "not allowed in names"},
		{"NonASCIIName", `usérName pr`, 2, `'é' is not allowed`},
		{"EmptyURN", `:userName pr`, 0, "schema URN"},
		{"MissingAttrAfterURN", enterprise + `: pr`, len(enterprise) + 1, "expected an attribute name"},
		{"StrayQuote", `"x" eq a`, 0, "expected an attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := filter.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tt.in, filter.String(e))
			}
			var fe *filter.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %T, want *filter.Error", tt.in, err)
			}
			if fe.Pos != tt.pos || !strings.Contains(fe.Msg, tt.msgPart) {
				t.Fatalf("Parse(%q) = %v; want position %d and a message containing %q", tt.in, err, tt.pos, tt.msgPart)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	nest := func(n int, open, close string) string {
		return strings.Repeat(open, n) + "a pr" + strings.Repeat(close, n)
	}
	for _, tt := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"Parens32", nest(filter.MaxDepth, "(", ")"), true},
		{"Parens33", nest(filter.MaxDepth+1, "(", ")"), false},
		{"Not32", nest(filter.MaxDepth, "not (", ")"), true},
		{"Not33", nest(filter.MaxDepth+1, "not (", ")"), false},
		// Brackets count with parentheses: 31 parentheses plus one bracket is 32, plus two is 33.
		{"Combined32", strings.Repeat("(", 31) + "e[a pr]" + strings.Repeat(")", 31), true},
		{"Combined33", strings.Repeat("(", 31) + "not (e[a pr])" + strings.Repeat(")", 31), false},
		{"DeepUnclosed", strings.Repeat("(", 100000), false},
		{"MaxLength", "a eq \"" + strings.Repeat("x", filter.MaxLength-7) + "\"", true},
		{"OverMaxLength", "a eq \"" + strings.Repeat("x", filter.MaxLength-6) + "\"", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filter.Parse(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%d bytes) error = %v, want ok=%v", len(tt.in), err, tt.ok)
			}
			if !tt.ok && tt.name != "DeepUnclosed" && !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "levels deep") {
				t.Fatalf("error %q does not name the limit", err)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := filter.Parse(`userName`)
	if got, want := err.Error(), `invalid filter at position 8: expected an operator after "userName" (eq, ne, co, sw, ew, pr, gt, ge, lt or le)`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func BenchmarkParse(b *testing.B) {
	// The filter Entra ID and Okta send before creating a user (their SCIM validators
	// check it first).
	const f = `userName eq "alice@example.com"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filter.Parse(f); err != nil {
			b.Fatal(err)
		}
	}
}
