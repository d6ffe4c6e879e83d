package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on what Parse accepts. Filters arrive in URLs from the network, so both are
// enforced before any work is done: MaxLength bounds the work per request, and MaxDepth
// bounds recursion so that no input can exhaust the stack.
const (
	// MaxLength is the longest filter, in bytes, that Parse accepts.
	MaxLength = 4096
	// MaxDepth is how deeply parentheses, "not (…)" and value-path brackets may nest,
	// counted together; each of them is one level.
	MaxDepth = 32
)

// Error is a filter that cannot be parsed or that does not fit the resource type's schema.
// Msg is written for the person who sent the filter; httpapi returns it with scimType
// invalidFilter (RFC 7644 §3.4.2.2).
type Error struct {
	// Pos is the byte offset, counted from 0, at which the problem was found; -1 when
	// the error is semantic (from Validate) and has no single position.
	Pos int
	Msg string
}

func (e *Error) Error() string {
	if e.Pos < 0 {
		return "invalid filter: " + e.Msg
	}
	return fmt.Sprintf("invalid filter at position %d: %s", e.Pos, e.Msg)
}

// Parse parses a SCIM filter (RFC 7644 §3.4.2.2, Figure 1). Operators, "and", "or",
// "not", true, false and null are case-insensitive; attribute names keep the case they
// were written in. Every error is an *Error.
func Parse(s string) (Expr, error) {
	if len(s) > MaxLength {
		return nil, &Error{Pos: MaxLength, Msg: fmt.Sprintf("the filter is %d bytes long; the limit is %d", len(s), MaxLength)}
	}
	p := &parser{s: s}
	p.skipSpace()
	if p.eof() {
		return nil, &Error{Pos: 0, Msg: "the filter is empty"}
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		switch p.s[p.pos] {
		case ')':
			return nil, p.errorf(p.pos, "unbalanced parentheses: this ')' has no matching '('")
		case ']':
			return nil, p.errorf(p.pos, "unbalanced brackets: this ']' has no matching '['")
		}
		return nil, p.errorf(p.pos, "expected \"and\", \"or\" or the end of the filter, found %s", p.describeNext())
	}
	return e, nil
}

// parser is a recursive-descent parser over the ABNF. Recursion only happens through
// parseFactor, which counts depth, so the stack stays bounded by MaxDepth.
type parser struct {
	s     string
	pos   int
	depth int
	// inValue is set inside "attr[…]", where attribute paths are sub-attributes of attr.
	inValue bool
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isDelim reports whether c ends a word: attribute paths, operators and literals run
// until whitespace, a bracket, a parenthesis or a quote.
func isDelim(c byte) bool {
	return isSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// peekWord returns the word at the current position without consuming it.
func (p *parser) peekWord() string {
	end := p.pos
	for end < len(p.s) && !isDelim(p.s[end]) {
		end++
	}
	return p.s[p.pos:end]
}

// describeNext names what is at the current position, for error messages.
func (p *parser) describeNext() string {
	if p.eof() {
		return "the end of the filter"
	}
	if w := p.peekWord(); w != "" {
		if len(w) > 40 {
			w = w[:40] + "…"
		}
		return strconv.Quote(w)
	}
	return fmt.Sprintf("%q", p.s[p.pos])
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(pos, "the filter nests parentheses, \"not\" and brackets more than %d levels deep", MaxDepth)
	}
	return nil
}

// keyword reports whether the next word is kw (case-insensitively), consuming it if so.
func (p *parser) keyword(kw string) bool {
	w := p.peekWord()
	if strings.EqualFold(w, kw) {
		p.pos += len(w)
		return true
	}
	return false
}

// parseOr parses FILTER *("or" FILTER); "or" binds loosest and associates to the left.
func (p *parser) parseOr() (Expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.keyword("or") {
			return left, nil
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "or", Left: left, Right: right}
	}
}

func (p *parser) parseAnd() (Expr, error) {
	left, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.keyword("and") {
			return left, nil
		}
		right, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "and", Left: left, Right: right}
	}
}

// parseFactor parses "(" FILTER ")", "not" "(" FILTER ")", a value path or an attribute
// expression.
func (p *parser) parseFactor() (Expr, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "expected an attribute, \"not\" or '(', found the end of the filter")
	}
	start := p.pos
	if p.s[p.pos] == '(' {
		p.pos++
		e, err := p.group(start)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	// "not" is only the operator when a parenthesis follows; otherwise it is an
	// attribute named "not", which ATTRNAME allows.
	if w := p.peekWord(); strings.EqualFold(w, "not") {
		save := p.pos
		p.pos += len(w)
		p.skipSpace()
		if !p.eof() && p.s[p.pos] == '(' {
			p.pos++
			x, err := p.group(start)
			if err != nil {
				return nil, err
			}
			return &Not{X: x}, nil
		}
		p.pos = save
	}
	return p.parseAttrExp()
}

// group parses the inside of a parenthesis already consumed at open, up to its ')'.
func (p *parser) group(open int) (Expr, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() || p.s[p.pos] != ')' {
		return nil, p.errorf(p.pos, "expected ')' to close the '(' at position %d, found %s", open, p.describeNext())
	}
	p.pos++
	p.depth--
	return e, nil
}

func (p *parser) parseAttrExp() (Expr, error) {
	start := p.pos
	word := p.peekWord()
	if word == "" {
		return nil, p.errorf(p.pos, "expected an attribute, \"not\" or '(', found %s", p.describeNext())
	}
	path, err := p.parsePath(word, start)
	if err != nil {
		return nil, err
	}
	p.pos += len(word)
	p.skipSpace()
	if !p.eof() && p.s[p.pos] == '[' {
		return p.parseValuePath(path, start)
	}
	if p.inValue && (path.URN != "" || path.Sub != "") {
		return nil, p.errorf(start, "%q inside brackets must be a sub-attribute name, without a dot or schema URN", word)
	}
	opPos := p.pos
	opWord := p.peekWord()
	if opWord == "" {
		if p.eof() {
			return nil, p.errorf(opPos, "expected an operator after %q (eq, ne, co, sw, ew, pr, gt, ge, lt or le)", word)
		}
		return nil, p.errorf(opPos, "expected an operator after %q, found %s", word, p.describeNext())
	}
	op := Op(strings.ToLower(opWord))
	switch op {
	case Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le, Pr:
	default:
		return nil, p.errorf(opPos, "expected an operator after %q (eq, ne, co, sw, ew, pr, gt, ge, lt or le), found %q", word, opWord)
	}
	p.pos += len(opWord)
	if op == Pr {
		return &Compare{Path: path, Op: Pr}, nil
	}
	p.skipSpace()
	v, err := p.parseValue(op)
	if err != nil {
		return nil, err
	}
	return &Compare{Path: path, Op: op, Value: v}, nil
}

func (p *parser) parseValuePath(path AttrPath, start int) (Expr, error) {
	if p.inValue {
		return nil, p.errorf(p.pos, "value filters cannot nest: %q is already inside brackets", path.String())
	}
	if path.Sub != "" {
		return nil, p.errorf(start, "brackets follow a multi-valued attribute, not a sub-attribute: write %s[%s …]", strings.TrimSuffix(path.String(), "."+path.Sub), path.Sub)
	}
	open := p.pos
	p.pos++ // '['
	if err := p.enter(open); err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() && p.s[p.pos] == ']' {
		return nil, p.errorf(p.pos, "the value filter %s[] is empty", path.String())
	}
	p.inValue = true
	inner, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.inValue = false
	p.skipSpace()
	if p.eof() || p.s[p.pos] != ']' {
		return nil, p.errorf(p.pos, "expected ']' to close the '[' at position %d, found %s", open, p.describeNext())
	}
	p.pos++
	p.depth--
	// RFC 7644 §3.5.2 allows attr[filter].sub only in PATCH paths; in a filter the
	// sub-attribute goes inside the brackets.
	if !p.eof() && p.s[p.pos] == '.' {
		return nil, p.errorf(p.pos, "%s[…]%s selects a sub-attribute, which only PATCH paths allow (RFC 7644 §3.5.2); in a filter, put the condition on %s inside the brackets: %s[… and %s …]",
			path.String(), p.peekWord(), strings.TrimPrefix(p.peekWord(), "."), path.String(), strings.TrimPrefix(p.peekWord(), "."))
	}
	return &ValuePath{Path: path, Filter: inner}, nil
}

// parsePath splits an attribute path at the last ':' into schema URN and attribute, and
// the attribute at '.' into attribute and sub-attribute (RFC 7644 §3.4.2.2 attrPath).
// URNs contain dots ("…:2.0:User"), which is why the split happens at the last colon.
func (p *parser) parsePath(word string, pos int) (AttrPath, error) {
	var path AttrPath
	name := word
	namePos := pos
	if i := strings.LastIndexByte(word, ':'); i >= 0 {
		path.URN = word[:i]
		name = word[i+1:]
		namePos = pos + i + 1
		if err := p.checkURN(path.URN, pos); err != nil {
			return AttrPath{}, err
		}
		if name == "" {
			return AttrPath{}, p.errorf(namePos, "expected an attribute name after the schema URN %q", path.URN)
		}
	}
	attr, sub, hasSub := strings.Cut(name, ".")
	path.Attr = attr
	if err := p.checkName(attr, namePos, word); err != nil {
		return AttrPath{}, err
	}
	if hasSub {
		if strings.Contains(sub, ".") {
			return AttrPath{}, p.errorf(namePos, "%q has more than one sub-attribute; SCIM attributes nest only one level", word)
		}
		if err := p.checkName(sub, namePos+len(attr)+1, word); err != nil {
			return AttrPath{}, err
		}
		path.Sub = sub
	}
	return path, nil
}

// checkName enforces ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA,
// and also accepts "$ref", which RFC 7643 uses as a sub-attribute name.
func (p *parser) checkName(name string, pos int, word string) error {
	if name == "" {
		return p.errorf(pos, "%q has an empty attribute name", word)
	}
	if name == "$ref" {
		return nil
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if i == 0 && !alpha {
			return p.errorf(pos, "%q is not an attribute name: names start with a letter", word)
		}
		if !alpha && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return p.errorf(pos+i, "%q is not an attribute name: %q is not allowed in names (letters, digits, '-' and '_' are)", word, r)
		}
	}
	return nil
}

// checkURN accepts a schema URI: a scheme (letter first) and then printable ASCII. The
// lexer already stops at whitespace, quotes, parentheses and brackets.
func (p *parser) checkURN(urn string, pos int) error {
	if urn == "" || !('a' <= urn[0] && urn[0] <= 'z' || 'A' <= urn[0] && urn[0] <= 'Z') {
		return p.errorf(pos, "%q is not a schema URN: it must start with a letter, like urn:ietf:params:scim:schemas:…", urn)
	}
	for i := 0; i < len(urn); i++ {
		if c := urn[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' || c == '\\' || c == '|' || c == '^' || c == '`' || c == '<' || c == '>' {
			return p.errorf(pos+i, "the schema URN %q contains %q, which URIs do not allow", urn, rune(c))
		}
	}
	return nil
}

// parseValue parses compValue = false / null / true / number / string (JSON, RFC 8259).
func (p *parser) parseValue(op Op) (any, error) {
	if p.eof() {
		return nil, p.errorf(p.pos, "expected a value after %q (a quoted string, a number, true, false or null)", string(op))
	}
	if p.s[p.pos] == '"' {
		return p.parseString()
	}
	start := p.pos
	w := p.peekWord()
	switch {
	case w == "":
		return nil, p.errorf(p.pos, "expected a value after %q (a quoted string, a number, true, false or null), found %s", string(op), p.describeNext())
	case strings.EqualFold(w, "true"):
		p.pos += len(w)
		return true, nil
	case strings.EqualFold(w, "false"):
		p.pos += len(w)
		return false, nil
	case strings.EqualFold(w, "null"):
		p.pos += len(w)
		return nil, nil
	case w[0] == '-' || '0' <= w[0] && w[0] <= '9':
		if !isJSONNumber(w) {
			return nil, p.errorf(start, "%q is not a number (JSON numbers look like 42, -1.5 or 1e3)", w)
		}
		p.pos += len(w)
		return json.Number(w), nil
	}
	return nil, p.errorf(start, "expected a value after %q (a quoted string, a number, true, false or null), found %q; strings need double quotes", string(op), w)
}

// isJSONNumber reports whether s matches the JSON number grammar exactly:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseString decodes a JSON string literal at the current position. Lone surrogates,
// raw control characters and invalid UTF-8 are errors rather than silently replaced, so
// that what was written is what gets compared.
func (p *parser) parseString() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errorf(start, "the string starting here has no closing '\"'")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			r, err := p.parseEscape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c < 0x20:
			return "", p.errorf(p.pos, "control character %U must be escaped in a string (e.g. \\n or \\u%04x)", rune(c), c)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.errorf(p.pos, "the string contains a byte that is not valid UTF-8")
			}
			b.WriteString(p.s[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

// parseEscape decodes one escape sequence at the backslash under p.pos.
func (p *parser) parseEscape() (rune, error) {
	start := p.pos
	if p.pos+1 >= len(p.s) {
		return 0, p.errorf(start, "the string ends inside an escape sequence")
	}
	c := p.s[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4(start)
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 {
				return 0, p.errorf(start, "\\u%04X is the second half of a surrogate pair and cannot stand alone", r)
			}
			if p.pos+1 >= len(p.s) || p.s[p.pos] != '\\' || p.s[p.pos+1] != 'u' {
				return 0, p.errorf(start, "\\u%04X starts a surrogate pair; it must be followed by \\uDC00–\\uDFFF", r)
			}
			second := p.pos
			p.pos += 2
			r2, err := p.hex4(second)
			if err != nil {
				return 0, err
			}
			if r2 < 0xDC00 || r2 > 0xDFFF {
				return 0, p.errorf(second, "\\u%04X starts a surrogate pair; it must be followed by \\uDC00–\\uDFFF, not \\u%04X", r, r2)
			}
			return utf16.DecodeRune(r, r2), nil
		}
		return r, nil
	}
	if c >= utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(p.s[start+1:])
		return 0, p.errorf(start, "invalid escape \"\\%c\" in string (JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)", r)
	}
	if c > ' ' && c < 0x7f {
		return 0, p.errorf(start, "invalid escape \"\\%c\" in string (JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)", c)
	}
	return 0, p.errorf(start, "invalid escape: a backslash followed by %q (JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)", string(c))
}

// hex4 reads the four hex digits of a \u escape that started at start.
func (p *parser) hex4(start int) (rune, error) {
	if p.pos+4 > len(p.s) {
		return 0, p.errorf(start, "\\u must be followed by four hex digits")
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := p.s[p.pos+i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, p.errorf(start, "\\u must be followed by four hex digits, found %q", p.s[p.pos:p.pos+4])
		}
		r = r<<4 | rune(d)
	}
	p.pos += 4
	return r, nil
}
