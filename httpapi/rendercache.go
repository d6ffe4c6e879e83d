package httpapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// renderCache keeps the JSON of resources as last rendered, so that reading an unchanged
// resource again skips decoding its stored document, rendering, projecting and encoding:
// in a GET-only profile that was about 40% of the handler's CPU (DESIGN.md §2 measured
// GET 25k/s → 41k/s on a prototype).
//
// An entry is reused only when everything the bytes depend on is the same: the resource's
// version (every change bumps it), its members or groups as read in this request (they
// change without the version), the tenant's resource type (a settings change builds a new
// one), the base URL and the projection. So a hit returns exactly what rendering would,
// and nothing is ever invalidated by hand. The row and its members are still read on
// every request; only the rendering is saved.
type renderCache struct {
	mu    sync.Mutex
	m     map[renderKey]*rendered
	size  int // bytes of the kept documents
	max   int // entries
	bytes int // budget for size

	members memberProjection // see renderGroup
}

// Bounds: at most maxRenderEntries documents and maxRenderTotal bytes of them, so the
// cache stays a small, fixed part of the server's memory whatever the data size.
const (
	maxRenderEntries = 20000
	maxRenderTotal   = 32 << 20
	maxRenderRefs    = 100      // a group's members are compared on every hit; big groups are not cached
	maxRenderBytes   = 16 << 10 // larger documents are rare and not worth holding
)

type renderKey struct{ tenant, id string }

type rendered struct {
	version           int64
	rt                *schema.ResourceType
	base, attrs, excl string
	refs              []scimtrail.MemberRef
	body              []byte // the encoded document, without a trailing newline
}

func newRenderCache() *renderCache {
	return &renderCache{m: make(map[renderKey]*rendered), max: maxRenderEntries, bytes: maxRenderTotal}
}

// refsOf is what v's document shows beyond its row.
func refsOf(v service.View) []scimtrail.MemberRef {
	if v.Resource.Type == scimtrail.GroupResource {
		return v.Members
	}
	return v.Groups
}

// render returns the encoded, projected document of v: from the cache when an entry
// matches exactly, otherwise rendered now (and kept when small enough).
func (c *renderCache) render(rt *schema.ResourceType, v service.View, base string, attrs, excluded []string) ([]byte, error) {
	if body, ok := c.cached(rt, v, base, attrs, excluded); ok {
		return body, nil
	}
	r := &v.Resource
	key := renderKey{r.Tenant, r.ID}
	a, e := joinAttrs(attrs), joinAttrs(excluded)
	refs := refsOf(v)
	var body []byte
	var done bool
	var err error
	if r.Type == scimtrail.GroupResource && len(v.Members) > 0 && len(attrs) == 0 && len(excluded) == 0 {
		if body, done, err = c.renderGroup(rt, v, base); err != nil {
			return nil, err
		}
	}
	if !done {
		doc := rt.Project(service.Render(v, base), attrs, excluded)
		if body, err = appendJSON(make([]byte, 0, 1024), doc); err != nil {
			return nil, err
		}
	}
	if len(refs) <= maxRenderRefs && len(body) <= maxRenderBytes {
		ent := &rendered{version: r.Version, rt: rt, base: base, attrs: a, excl: e, refs: slices.Clone(refs), body: body}
		c.mu.Lock()
		if old := c.m[key]; old != nil {
			c.size -= len(old.body)
			delete(c.m, key)
		}
		if len(c.m) >= c.max || c.size+len(body) > c.bytes {
			// Map iteration starts at a random entry: a cheap random eviction, down to 90%.
			for k, e := range c.m {
				delete(c.m, k)
				c.size -= len(e.body)
				if len(c.m) < c.max*9/10 && c.size+len(body) <= c.bytes*9/10 {
					break
				}
			}
		}
		c.m[key] = ent
		c.size += len(body)
		c.mu.Unlock()
	}
	return body, nil
}

// cached returns the kept document of v if an entry matches exactly. It reads only v's
// tenant, id, type, version and members or groups, so a list can ask before reading the
// rest of the row (service.ListQuery.Rendered).
func (c *renderCache) cached(rt *schema.ResourceType, v service.View, base string, attrs, excluded []string) ([]byte, bool) {
	r := &v.Resource
	c.mu.Lock()
	hit := c.m[renderKey{r.Tenant, r.ID}]
	c.mu.Unlock()
	if hit != nil && hit.version == r.Version && hit.rt == rt && hit.base == base &&
		hit.attrs == joinAttrs(attrs) && hit.excl == joinAttrs(excluded) && slices.Equal(hit.refs, refsOf(v)) {
		return hit.body, true
	}
	return nil, false
}

// joinAttrs is a projection list as one comparable string (names cannot contain NUL).
func joinAttrs(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
	}
	return b.String()
}

// encodeJSON is how every response body is encoded: HTML escaping off, so that raw ledger
// entry bytes embedded in a response stay byte for byte what was hashed.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.Bytes(), err
}
