package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/scimtrail/scimtrail/internal/jsonnum"
)

// The load tool reads a handful of fields from each response (id, userName, active,
// name.givenName, members, totalResults, …). encoding/json spent ≈ 13 µs of a GET's
// ≈ 150 µs of CPU on that: it scans the whole document twice (validation, then decoding)
// through reflection. jsonDoc does one pass that validates the whole document as strictly
// (RFC 8259 grammar, string escapes, control characters, literals, numbers) and keeps only
// the fields the checks read; everything else is skipped without being built. Member
// names are matched ignoring ASCII case, as encoding/json (and SCIM) match them.

// jsonDoc is a cursor over one JSON text.
type jsonDoc struct {
	b []byte
	i int
}

// maxJSONDepth bounds nesting so that a hostile response cannot exhaust the stack.
const maxJSONDepth = 1000

var errJSONEnd = errors.New("unexpected end of JSON input")

func (d *jsonDoc) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *jsonDoc) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *jsonDoc) peek() byte {
	d.ws()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

func (d *jsonDoc) expect(c byte) error {
	if d.peek() != c {
		if d.i >= len(d.b) {
			return errJSONEnd
		}
		return d.errorf("expected %q, found %q", c, d.b[d.i])
	}
	d.i++
	return nil
}

// end checks that nothing but whitespace follows the top-level value.
func (d *jsonDoc) end() error {
	if d.ws(); d.i < len(d.b) {
		return d.errorf("data after the top-level value")
	}
	return nil
}

// object reads an object, calling member for each name with the cursor on its value;
// member must consume the value (d.skip for the ones it does not want).
func (d *jsonDoc) object(depth int, member func(name []byte) error) error {
	if depth > maxJSONDepth {
		return d.errorf("nested too deeply")
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		name, err := d.rawString()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		case 0:
			return errJSONEnd
		default:
			return d.errorf("expected ',' or '}' after an object member")
		}
	}
}

// array reads an array, calling elem with the cursor on each element.
func (d *jsonDoc) array(depth int, elem func() error) error {
	if depth > maxJSONDepth {
		return d.errorf("nested too deeply")
	}
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		case 0:
			return errJSONEnd
		default:
			return d.errorf("expected ',' or ']' after an array element")
		}
	}
}

// skip reads and validates one value of any type.
func (d *jsonDoc) skip(depth int) error {
	switch c := d.peek(); {
	case c == '{':
		return d.object(depth+1, func([]byte) error { return d.skip(depth + 1) })
	case c == '[':
		return d.array(depth+1, func() error { return d.skip(depth + 1) })
	case c == '"':
		_, err := d.rawString()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, err := d.number()
		return err
	case c == 0:
		return errJSONEnd
	default:
		return d.errorf("unexpected %q", c)
	}
}

func (d *jsonDoc) literal(s string) error {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return d.errorf("invalid literal")
	}
	d.i += len(s)
	return nil
}

// isNull consumes a null if one is next.
func (d *jsonDoc) isNull() bool {
	if d.peek() == 'n' && d.literal("null") == nil {
		return true
	}
	return false
}

// rawString reads a string and returns its bytes between the quotes, escapes validated
// but not decoded.
func (d *jsonDoc) rawString() ([]byte, error) {
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], nil
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return nil, errJSONEnd
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if len(d.b)-d.i < 5 {
					return nil, errJSONEnd
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, d.errorf("invalid \\u escape")
					}
				}
				d.i += 5
			default:
				return nil, d.errorf("invalid escape")
			}
		default:
			d.i++
		}
	}
	return nil, errJSONEnd
}

// str reads a string value; null leaves *dst as it is, as encoding/json does.
func (d *jsonDoc) str(dst *string) error {
	if d.isNull() {
		return nil
	}
	if d.peek() != '"' {
		return d.errorf("expected a string")
	}
	start := d.i
	raw, err := d.rawString()
	if err != nil {
		return err
	}
	for _, c := range raw {
		if c == '\\' {
			// Escapes are rare in these responses; let encoding/json decode them.
			return json.Unmarshal(d.b[start:d.i], dst)
		}
	}
	*dst = string(raw)
	return nil
}

// number reads a number (RFC 8259 §6) and returns its text.
func (d *jsonDoc) number() ([]byte, error) {
	d.ws()
	end, ok := jsonnum.End(d.b, d.i)
	if !ok {
		d.i = end
		return nil, d.errorf("invalid number")
	}
	n := d.b[d.i:end]
	d.i = end
	return n, nil
}

// integer reads a number into an int; null leaves *dst as it is.
func (d *jsonDoc) integer(dst *int) error {
	if d.isNull() {
		return nil
	}
	raw, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return d.errorf("%s is not an integer", raw)
	}
	*dst = n
	return nil
}

// boolean reads true or false into a new *bool; null sets nil, as encoding/json does.
func (d *jsonDoc) boolean(dst **bool) error {
	switch d.peek() {
	case 't', 'f':
		v := d.b[d.i] == 't'
		lit := "false"
		if v {
			lit = "true"
		}
		if err := d.literal(lit); err != nil {
			return err
		}
		*dst = &v
		return nil
	case 'n':
		*dst = nil
		return d.literal("null")
	}
	return d.errorf("expected a boolean")
}

// decodeJSON parses all of b as one value with fill reading the top-level object.
func decodeJSON(b []byte, fill func(d *jsonDoc) error) error {
	d := &jsonDoc{b: b}
	if d.peek() == 'n' {
		// A top-level null is valid JSON and, as with encoding/json, changes nothing.
		if err := d.literal("null"); err != nil {
			return err
		}
		return d.end()
	}
	if err := fill(d); err != nil {
		return err
	}
	return d.end()
}

func (u *userDoc) read(d *jsonDoc, depth int) error {
	if d.isNull() {
		return nil
	}
	return d.object(depth, func(name []byte) error {
		switch {
		case asciiEqualFold(name, "id"):
			return d.str(&u.ID)
		case asciiEqualFold(name, "userName"):
			return d.str(&u.UserName)
		case asciiEqualFold(name, "active"):
			return d.boolean(&u.Active)
		case asciiEqualFold(name, "name"):
			if d.isNull() {
				return nil
			}
			return d.object(depth+1, func(name []byte) error {
				if asciiEqualFold(name, "givenName") {
					return d.str(&u.Name.GivenName)
				}
				return d.skip(depth + 1)
			})
		}
		return d.skip(depth)
	})
}

func (g *groupDoc) read(d *jsonDoc, depth int) error {
	return d.object(depth, func(name []byte) error {
		switch {
		case asciiEqualFold(name, "id"):
			return d.str(&g.ID)
		case asciiEqualFold(name, "displayName"):
			return d.str(&g.DisplayName)
		case asciiEqualFold(name, "members"):
			if d.isNull() {
				g.Members = nil
				return nil
			}
			g.Members = g.Members[:0]
			return d.array(depth+1, func() error {
				var m member
				if !d.isNull() {
					if err := d.object(depth+2, func(name []byte) error {
						if asciiEqualFold(name, "value") {
							return d.str(&m.Value)
						}
						return d.skip(depth + 2)
					}); err != nil {
						return err
					}
				}
				g.Members = append(g.Members, m)
				return nil
			})
		}
		return d.skip(depth)
	})
}

// readMember reads one member of a list response, skipping the ones the checks do not read.
func (l *listDoc) readMember(d *jsonDoc, depth int, name []byte) error {
	switch {
	case asciiEqualFold(name, "totalResults"):
		return d.integer(&l.TotalResults)
	case asciiEqualFold(name, "startIndex"):
		return d.integer(&l.StartIndex)
	case asciiEqualFold(name, "Resources"):
		if d.isNull() {
			l.Resources = nil
			return nil
		}
		l.Resources = l.Resources[:0]
		return d.array(depth+1, func() error {
			var u userDoc
			if err := u.read(d, depth+2); err != nil {
				return err
			}
			l.Resources = append(l.Resources, u)
			return nil
		})
	}
	return d.skip(depth)
}

func (u *userDoc) decode(b []byte) error {
	return decodeJSON(b, func(d *jsonDoc) error { return u.read(d, 1) })
}

func (g *groupDoc) decode(b []byte) error {
	return decodeJSON(b, func(d *jsonDoc) error { return g.read(d, 1) })
}

func (l *listDoc) decode(b []byte) error {
	return decodeJSON(b, func(d *jsonDoc) error {
		return d.object(1, func(name []byte) error { return l.readMember(d, 1, name) })
	})
}

// cursorPage is a list page of the discover phase, with its RFC 9865 nextCursor.
type cursorPage struct {
	listDoc
	NextCursor string
}

func (p *cursorPage) decode(b []byte) error {
	return decodeJSON(b, func(d *jsonDoc) error {
		return d.object(1, func(name []byte) error {
			if asciiEqualFold(name, "nextCursor") {
				return d.str(&p.NextCursor)
			}
			return p.readMember(d, 1, name)
		})
	})
}
