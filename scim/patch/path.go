package patch

import (
	"strconv"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// Path is a parsed PATCH "path" (RFC 7644 §3.5.2, Figure 7: PATH = attrPath / valuePath
// [subAttr]). URN is the schema URN prefix as written, or ""; Attr the attribute; Filter the
// value filter of "attr[filter]", or nil; Sub the sub-attribute, or "". A path that names a
// whole extension ("urn:…:enterprise:2.0:User") parses as URN and Attr split at the last
// colon, or as URN alone when the last segment is not an attribute name; Apply resolves both
// against the resource type's schemas, which ParsePath does not know.
type Path struct {
	URN    string
	Attr   string
	Filter filter.Expr
	Sub    string
}

// String renders p as a PATCH path.
func (p Path) String() string {
	var b strings.Builder
	if p.URN != "" {
		b.WriteString(p.URN)
		if p.Attr != "" {
			b.WriteByte(':')
		}
	}
	b.WriteString(p.Attr)
	if p.Filter != nil {
		b.WriteByte('[')
		b.WriteString(filter.String(p.Filter))
		b.WriteByte(']')
	}
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
	return b.String()
}

// ParsePath parses a PATCH path: "attr", "attr.sub", "attr[filter]", "attr[filter].sub",
// each optionally prefixed by a schema URN and a colon. The bracket content is a filter
// (RFC 7644 §3.4.2.2) whose attribute paths are relative to the attribute's values. Errors
// are *scimtrail.Error with code EINVALID and scimType invalidPath.
func ParsePath(s string) (Path, error) {
	if strings.TrimSpace(s) == "" {
		return Path{}, pathErr(s, "the path is empty")
	}
	head, rest := s, ""
	var p Path
	if i := strings.IndexByte(s, '['); i >= 0 {
		head = s[:i]
		end := closingBracket(s, i+1)
		if end < 0 {
			return Path{}, pathErr(s, "the value filter opened with \"[\" is not closed with \"]\"")
		}
		content := s[i+1 : end]
		if strings.TrimSpace(content) == "" {
			return Path{}, pathErr(s, "the value filter between \"[\" and \"]\" is empty")
		}
		f, err := filter.Parse(content)
		if err != nil {
			e := pathErr(s, "the value filter %q does not parse: %s", content, scimtrail.ErrorMessage(err))
			e.Err = err
			return Path{}, e
		}
		p.Filter = f
		rest = s[end+1:]
		if rest != "" {
			sub, ok := strings.CutPrefix(rest, ".")
			if !ok || !validName(sub) {
				return Path{}, pathErr(s, "after \"]\" only \".subAttribute\" may follow, not %q", rest)
			}
			p.Sub = sub
		}
	}
	if len(head) >= 4 && strings.EqualFold(head[:4], "urn:") {
		i := strings.LastIndexByte(head, ':')
		last := head[i+1:]
		attr, sub, _ := strings.Cut(last, ".")
		if validName(attr) && (sub == "" || validName(sub)) {
			p.URN, head = head[:i], last
		} else if p.Filter == nil {
			// The whole path is a schema URN whose last segment is no attribute name
			// ("urn:acme:ext:1.0"): it names the whole extension.
			if !validURN(head) {
				return Path{}, pathErr(s, "%q is neither an attribute path nor a schema URN", head)
			}
			p.URN = head
			return p, nil
		} else {
			return Path{}, pathErr(s, "%q is not an attribute name", last)
		}
		if p.URN == "urn" || strings.HasSuffix(p.URN, ":") || strings.Contains(p.URN, "::") {
			return Path{}, pathErr(s, "the schema URN %q is incomplete", p.URN)
		}
	}
	attr, sub, dotted := strings.Cut(head, ".")
	if !validName(attr) {
		return Path{}, pathErr(s, "%q is not an attribute name (a letter, then letters, digits, \"-\" or \"_\")", attr)
	}
	p.Attr = attr
	if dotted {
		if p.Filter != nil {
			return Path{}, pathErr(s, "a value filter must follow the attribute, not a sub-attribute: write attr[filter].sub")
		}
		if !validName(sub) {
			return Path{}, pathErr(s, "%q is not a sub-attribute name", sub)
		}
		p.Sub = sub
	}
	return p, nil
}

// validURN reports whether s looks like a URN (RFC 8141: "urn:" NID ":" NSS): at least
// three colon-separated segments, none empty, and no spaces, quotes or brackets.
func validURN(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) < 3 || strings.ContainsAny(s, " \t\"[]") {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// closingBracket returns the index of the "]" that closes a value filter starting at from,
// skipping brackets inside quoted strings, or -1.
func closingBracket(s string, from int) int {
	inString := false
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ']':
			return i
		}
	}
	return -1
}

// validName reports whether s is an ATTRNAME (RFC 7644 §3.4.2.2: ALPHA *(nameChar)) or
// "$ref", the one sub-attribute name RFC 7643 gives that the ABNF does not allow.
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func pathErr(path, format string, args ...any) *scimtrail.Error {
	e := invalid(scimtrail.ScimInvalidPath, format, args...)
	e.Message = "path " + strconv.Quote(path) + ": " + e.Message
	return e
}
