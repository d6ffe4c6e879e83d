package httpapi

import (
	"bytes"
	"reflect"
	"sync"

	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// A group's document is mostly its members, and a member PATCH answers with a new version
// every time, so the render cache never helps it: rendering 50 members as maps, projecting
// them and encoding them with encoding/json was about a tenth of a member PATCH's CPU.
// renderGroup writes the members array directly and leaves the rest of the document to
// the general path. The bytes are exactly encoding/json's: an object's keys in sorted order
// (so the document is the keys before "members", the array, then the keys after it), a
// member's keys "$ref", "display", "type", "value", strings escaped as encodeJSON does.

// memberProjection remembers, for the last resource type seen, whether its default
// projection (no attributes, no excludedAttributes) returns a rendered member unchanged: a
// tenant's schema could in principle mark a members sub-attribute returned=never.
type memberProjection struct {
	mu sync.Mutex
	rt *schema.ResourceType
	ok bool
}

func (m *memberProjection) asIs(rt *schema.ResourceType) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rt != rt {
		sample := func() map[string]any {
			return map[string]any{"members": []any{map[string]any{"$ref": "r", "display": "d", "type": "User", "value": "v"}}}
		}
		m.rt, m.ok = rt, reflect.DeepEqual(rt.Project(sample(), nil, nil), sample())
	}
	return m.ok
}

// renderGroup encodes a group with members and no projection requested, or returns
// ok=false when the general path must do it.
func (c *renderCache) renderGroup(rt *schema.ResourceType, v service.View, base string) ([]byte, bool, error) {
	if !c.members.asIs(rt) {
		return nil, false, nil
	}
	rest := v
	rest.Members = nil
	doc := rt.Project(service.Render(rest, base), nil, nil)
	if _, clash := doc["members"]; clash {
		return nil, false, nil
	}
	before, after := make(map[string]any, len(doc)), make(map[string]any, len(doc))
	for k, val := range doc {
		if k < "members" {
			before[k] = val
		} else {
			after[k] = val
		}
	}
	var b bytes.Buffer
	b.Grow(256 + 160*len(v.Members))
	if err := appendObjectBody(&b, before); err != nil {
		return nil, false, err
	}
	if len(before) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"members":[`)
	for i, m := range v.Members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"$ref":`)
		appendString(&b, base+"/"+string(m.Type)+"s/"+m.Value)
		if m.Display != "" {
			b.WriteString(`,"display":`)
			appendString(&b, m.Display)
		}
		b.WriteString(`,"type":`)
		appendString(&b, string(m.Type))
		b.WriteString(`,"value":`)
		appendString(&b, m.Value)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	if len(after) > 0 {
		b.WriteByte(',')
	}
	if err := appendObjectBody(&b, after); err != nil {
		return nil, false, err
	}
	// appendObjectBody wrote the halves without braces; wrap them.
	out := make([]byte, 0, b.Len()+2)
	out = append(out, '{')
	out = append(out, b.Bytes()...)
	return append(out, '}'), true, nil
}

// appendObjectBody writes m as encoding/json would, without the enclosing braces.
func appendObjectBody(b *bytes.Buffer, m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	enc, err := encodeJSON(m)
	if err != nil {
		return err
	}
	enc = bytes.TrimSuffix(enc, []byte("\n"))
	b.Write(enc[1 : len(enc)-1])
	return nil
}

// appendString writes s as a JSON string exactly as encodeJSON does: printable ASCII
// without quotes or backslashes as is, anything else through encoding/json.
func appendString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			enc, _ := encodeJSON(s) // a string always encodes
			b.Write(bytes.TrimSuffix(enc, []byte("\n")))
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
