package httpapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// appendDoc appends the JSON encoding of a rendered SCIM document to dst, byte for byte
// what encodeJSON (encoding/json, HTML escaping off) writes without its newline. Rendered
// documents hold only map[string]any, []any, []string, string, bool, nil and json.Number;
// for those encoding/json's reflection, its per-map key slices and its sort were ≈ 2% of a
// write's CPU and most of a render-cache miss. ok is false when v holds anything else (or
// a malformed json.Number); the caller then uses encodeJSON, which also reports the error.
func appendDoc(dst []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, v), true
	case bool:
		if v {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case json.Number:
		if !validNumber(string(v)) {
			return dst, false
		}
		if v == "" {
			return append(dst, '0'), true // as encoding/json writes an empty Number
		}
		return append(dst, v...), true
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		var buf [32]string
		keys := buf[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			if dst, ok = appendDoc(dst, v[k]); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendDoc(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []string:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, e)
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// appendJSON appends v's encoding as encodeJSON writes it, without the newline: through
// appendDoc when it can, else through encoding/json (which also reports what is wrong).
func appendJSON(dst []byte, v any) ([]byte, error) {
	if out, ok := appendDoc(dst, v); ok {
		return out, nil
	}
	enc, err := encodeJSON(v)
	if err != nil {
		return nil, err
	}
	return append(dst, bytes.TrimSuffix(enc, []byte("\n"))...), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping off: short escapes
// for \b \f \n \r \t, \u00XX for other control bytes, \ufffd for invalid UTF-8, and
// \u2028 \u2029 escaped for JavaScript's sake.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validNumber reports whether s is a JSON number, as encoding/json checks a json.Number:
// a JSON text that starts with '-' or a digit can only be a number, and ending in a digit
// leaves no whitespace around it. "" passes; encoding/json writes it as 0.
func validNumber(s string) bool {
	if s == "" {
		return true
	}
	first, last := s[0], s[len(s)-1]
	return (first == '-' || first >= '0' && first <= '9') && last >= '0' && last <= '9' && json.Valid([]byte(s))
}
