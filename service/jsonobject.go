package service

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/scimtrail/scimtrail/internal/jsonnum"
)

// parseObject decodes a JSON object into map[string]any with numbers as json.Number, as
// json.Decoder with UseNumber does, in one pass and without reflection: every POST and PUT
// body and every stored document rendered goes through it, and encoding/json's decoding
// into maps was ≈ 5% of a create's CPU. It takes only what it is sure to read exactly as
// encoding/json would (an object and nothing but whitespace after it, strings that are
// valid UTF-8, nesting up to encoding/json's limit); for anything else ok is false and the
// caller decodes with encoding/json, which then also words the error.
func parseObject(b []byte) (doc map[string]any, ok bool) {
	p := objectParser{b: b}
	p.ws()
	if p.i >= len(b) || b[p.i] != '{' {
		return nil, false
	}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	if p.ws(); p.i != len(b) {
		return nil, false
	}
	return v.(map[string]any), true
}

type objectParser struct {
	b []byte
	i int
}

// maxObjectDepth is encoding/json's nesting limit; deeper input goes to encoding/json for
// its error.
const maxObjectDepth = 10000

func (p *objectParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *objectParser) value(depth int) (any, bool) {
	if depth >= maxObjectDepth {
		return nil, false
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		m := make(map[string]any)
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return m, true
		}
		for {
			p.ws()
			k, ok := p.str()
			if !ok {
				return nil, false
			}
			if p.ws(); p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, false
			}
			p.i++
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
			if p.ws(); p.i >= len(p.b) {
				return nil, false
			}
			switch p.b[p.i] {
			case ',':
				p.i++
			case '}':
				p.i++
				return m, true
			default:
				return nil, false
			}
		}
	case c == '[':
		p.i++
		a := []any{}
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return a, true
		}
		for {
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if p.ws(); p.i >= len(p.b) {
				return nil, false
			}
			switch p.b[p.i] {
			case ',':
				p.i++
			case ']':
				p.i++
				return a, true
			default:
				return nil, false
			}
		}
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, false
}

func (p *objectParser) literal(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// str reads a string. One without escapes is its bytes; one with escapes is handed to
// encoding/json, whose unquoting (surrogate pairs, replacement characters) is the reference.
func (p *objectParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			raw := p.b[start+1 : p.i-1]
			if escaped {
				var s string
				if json.Unmarshal(p.b[start:p.i], &s) != nil {
					return "", false
				}
				return s, true
			}
			if !utf8.Valid(raw) {
				return "", false // encoding/json replaces bad bytes; leave that to it
			}
			return string(raw), true
		case c < 0x20:
			return "", false
		case c == '\\':
			escaped = true
			p.i += 2 // the escaped byte cannot end the string; json.Unmarshal checks it
		default:
			p.i++
		}
	}
	return "", false
}

// number reads an RFC 8259 number and returns its text as a json.Number.
func (p *objectParser) number() (any, bool) {
	end, ok := jsonnum.End(p.b, p.i)
	if !ok {
		return nil, false
	}
	n := json.Number(p.b[p.i:end])
	p.i = end
	return n, true
}
