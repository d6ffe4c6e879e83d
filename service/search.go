package service

import (
	"context"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// rootTypes are the resource types a search at the SCIM root reads, in the order their
// results are concatenated.
var rootTypes = []scimtrail.ResourceType{scimtrail.UserResource, scimtrail.GroupResource}

// cursorPrefix names a root type in a root cursor.
var cursorPrefix = map[scimtrail.ResourceType]string{scimtrail.UserResource: "u", scimtrail.GroupResource: "g"}

// SearchAll answers a search at the SCIM root (RFC 7644 §3.4.3, POST /.search): every
// resource type the filter can apply to, Users first and then Groups, each in its own
// order, paged by startIndex and count over the whole, or by cursor (RFC 9865). A filter
// that names an attribute only one type has (userName) searches only that type; one that
// fits neither is invalidFilter. Each type is read in its own snapshot.
func (s *Service) SearchAll(ctx context.Context, tenant string, q ListQuery) (ListResult, error) {
	count := q.Count
	if count < 0 {
		count = DefaultCount
	}
	count = min(count, MaxResults)
	if q.Cursor != nil {
		return s.searchAllByCursor(ctx, tenant, q, count)
	}
	start := max(q.StartIndex, 1)
	res := ListResult{StartIndex: start}
	var firstErr error
	searched := 0
	skipped := 0 // matches of earlier types, for the startIndex of later ones
	for _, typ := range rootTypes {
		sub := q
		sub.StartIndex = max(start-skipped, 1)
		sub.Count = count - len(res.Views)
		r, err := s.ListResources(ctx, tenant, typ, sub)
		if notForType(err) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		} else if err != nil {
			return ListResult{}, err
		}
		searched++
		res.Total += r.Total
		skipped += r.Total
		res.Views = append(res.Views, r.Views...)
	}
	if searched == 0 {
		return ListResult{}, firstErr
	}
	return res, nil
}

// notForType reports whether err says the filter (or sort) does not apply to a resource
// type: at the root such a type simply matches none of its resources.
func notForType(err error) bool {
	t := scimtrail.ErrorScimType(err)
	return t == scimtrail.ScimInvalidFilter || t == scimtrail.ScimInvalidValue
}

// searchAllByCursor pages a root search forward by cursor. A root cursor is "u:" or "g:"
// followed by that type's own cursor ("" for its first page): the type being read and
// where in it. The inner cursor carries the MAC and the tenant, type and query binding, so
// an edited prefix yields invalidCursor, never another tenant's or query's rows. Paging
// backwards is not offered at the root (previousCursor is optional in RFC 9865 §2).
func (s *Service) searchAllByCursor(ctx context.Context, tenant string, q ListQuery, count int) (ListResult, error) {
	phase, inner := 0, ""
	if c := *q.Cursor; c != "" {
		prefix, rest, ok := strings.Cut(c, ":")
		switch {
		case ok && prefix == "u":
			phase = 0
		case ok && prefix == "g":
			phase = 1
		default:
			return ListResult{}, invalidCursor("the cursor is not one this server issued for a search at the root; start again with an empty cursor")
		}
		inner = rest
	}
	var res ListResult
	var firstErr error
	searched := 0
	for i, typ := range rootTypes {
		sub := q
		switch {
		case i < phase || len(res.Views) == count:
			// Before the cursor's type, or the page is full: only the count matters.
			sub.Cursor, sub.Count = nil, 0
		case i == phase:
			sub.Cursor, sub.Count = &inner, count
		default:
			first := ""
			sub.Cursor, sub.Count = &first, count-len(res.Views)
		}
		r, err := s.ListResources(ctx, tenant, typ, sub)
		if notForType(err) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		} else if err != nil {
			return ListResult{}, err
		}
		searched++
		res.Total += r.Total
		res.Views = append(res.Views, r.Views...)
		if res.NextCursor != "" || i < phase || count == 0 {
			continue
		}
		prefix := cursorPrefix[typ]
		if r.NextCursor != "" {
			res.NextCursor = prefix + ":" + r.NextCursor
		} else if sub.Cursor == nil && r.Total > 0 {
			// The page filled up before this type: its results start the next page.
			res.NextCursor = prefix + ":"
		}
	}
	if searched == 0 {
		return ListResult{}, firstErr
	}
	return res, nil
}
