package service

import (
	"cmp"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// MaxSortMatches is how many matches a query sorted by an attribute that is not indexed may
// have (RFC 7644 §3.4.2.3 lets sortBy name any attribute). Such queries are sorted in memory
// over the whole filtered set, so the set is capped; a query matching more is EINVALID,
// and a filter that narrows it, or an indexed sortBy, makes it work.
const MaxSortMatches = 10000

// sortKey is how an attribute that is not indexed is sorted: its path and definition.
type sortKey struct {
	path filter.AttrPath
	attr *schema.Attribute
	// sub is the sub-attribute whose value sorts a multi-valued complex attribute named
	// without one ("emails" sorts by the primary, or first, email's value).
	sub string
}

// parseSortKey resolves a sortBy that is not indexed against the tenant's resource type.
func parseSortKey(rt *schema.ResourceType, sortBy string) (*sortKey, error) {
	bad := func(why string) error {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "sortBy %q %s", sortBy, why)
	}
	expr, err := filter.Parse(sortBy + " pr")
	c, ok := expr.(*filter.Compare)
	if err != nil || !ok {
		return nil, bad("is not an attribute path")
	}
	a, found := rt.Lookup(c.Path.URN, c.Path.Attr, c.Path.Sub)
	if !found {
		return nil, bad("is not an attribute of " + rt.Name)
	}
	k := &sortKey{path: c.Path, attr: a}
	if a.Type == filter.TypeComplex {
		if _, ok := a.Sub("value"); !a.MultiValued || !ok {
			return nil, bad("is a complex attribute; sort by one of its sub-attributes")
		}
		k.sub = "value"
	}
	if a.Returned == schema.ReturnedNever {
		return nil, bad("is never returned, so it cannot order results")
	}
	return k, nil
}

// value returns the sort value of r, or nil when r has none. Multi-valued attributes sort by
// their primary value, or their first when none is primary (RFC 7644 §3.4.2.3).
func (k *sortKey) value(r scimtrail.Resource) any {
	doc := filterDoc(r)
	var container map[string]any = doc
	if k.path.URN != "" && !strings.EqualFold(k.path.URN, schemaOfType(r.Type)) {
		container, _ = getFold(doc, k.path.URN).(map[string]any)
	}
	v := getFold(container, k.path.Attr)
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return nil
		}
		chosen := list[0]
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && getFold(m, "primary") == true {
				chosen = e
				break
			}
		}
		v = chosen
	}
	sub := k.path.Sub
	if sub == "" {
		sub = k.sub
	}
	if sub != "" {
		m, _ := v.(map[string]any)
		v = getFold(m, sub)
	}
	return v
}

func schemaOfType(typ scimtrail.ResourceType) string {
	if typ == scimtrail.GroupResource {
		return schema.GroupSchema
	}
	return schema.UserSchema
}

func getFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// compareValues orders two non-nil values of the attribute's type: strings case-insensitively
// unless caseExact, numbers by value, false before true, dateTimes by instant.
func (k *sortKey) compareValues(a, b any) int {
	typ, exact := k.attr.Type, k.attr.CaseExact
	if k.attr.Type == filter.TypeComplex {
		if s, ok := k.attr.Sub(k.sub); ok {
			typ, exact = s.Type, s.CaseExact
		}
	}
	switch typ {
	case filter.TypeInteger, filter.TypeDecimal:
		x, _ := new(big.Float).SetString(toString(a))
		y, _ := new(big.Float).SetString(toString(b))
		if x != nil && y != nil {
			return x.Cmp(y)
		}
	case filter.TypeBoolean:
		x, _ := a.(bool)
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case filter.TypeDateTime:
		x, e1 := time.Parse(time.RFC3339Nano, toString(a))
		y, e2 := time.Parse(time.RFC3339Nano, toString(b))
		if e1 == nil && e2 == nil {
			return x.Compare(y)
		}
	}
	x, y := toString(a), toString(b)
	if !exact {
		x, y = FoldUserName(x), FoldUserName(y)
	}
	return strings.Compare(x, y)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sortInMemory orders rows (in creation order) by k, stably so that ties stay in creation
// order. Resources without a value come last in either order.
func (k *sortKey) sortInMemory(rows []scimtrail.Resource, descending bool) {
	keys := make(map[string]any, len(rows))
	for _, r := range rows {
		keys[r.ID] = k.value(r)
	}
	slices.SortStableFunc(rows, func(a, b scimtrail.Resource) int {
		x, y := keys[a.ID], keys[b.ID]
		switch {
		case x == nil && y == nil:
			return 0
		case x == nil:
			return 1
		case y == nil:
			return -1
		}
		c := k.compareValues(x, y)
		if descending {
			c = -c
		}
		return cmp.Compare(c, 0)
	})
}
