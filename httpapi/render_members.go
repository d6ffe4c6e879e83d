package httpapi

import (
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
// member's keys "$ref", "display", "type", "value", strings escaped by appendJSONString.

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
	b := make([]byte, 0, 258+160*len(v.Members))
	b = append(b, '{')
	b, err := appendObjectBody(b, before)
	if err != nil {
		return nil, false, err
	}
	if len(before) > 0 {
		b = append(b, ',')
	}
	b = append(b, `"members":[`...)
	for i, m := range v.Members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"$ref":`...)
		b = appendJSONString(b, base+"/"+string(m.Type)+"s/"+m.Value)
		if m.Display != "" {
			b = append(b, `,"display":`...)
			b = appendJSONString(b, m.Display)
		}
		b = append(b, `,"type":`...)
		b = appendJSONString(b, string(m.Type))
		b = append(b, `,"value":`...)
		b = appendJSONString(b, m.Value)
		b = append(b, '}')
	}
	b = append(b, ']')
	if len(after) > 0 {
		b = append(b, ',')
	}
	if b, err = appendObjectBody(b, after); err != nil {
		return nil, false, err
	}
	return append(b, '}'), true, nil
}

// appendObjectBody appends m as encodeJSON writes it, without the enclosing braces.
func appendObjectBody(dst []byte, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return dst, nil
	}
	n := len(dst)
	dst, err := appendJSON(dst, m)
	if err != nil {
		return nil, err
	}
	return append(dst[:n], dst[n+1:len(dst)-1]...), nil
}
