package service

import (
	"context"

	"github.com/scimtrail/scimtrail"
)

// SearchAll answers a search at the SCIM root (RFC 7644 §3.4.3, POST /.search): every
// resource type the filter can apply to, Users first and then Groups, each in its own
// order, paged by startIndex and count over the whole. A filter that names an attribute
// only one type has (userName) searches only that type; one that fits neither is
// invalidFilter. Each type is read in its own snapshot. Cursor pagination is not offered
// here: it is EINVALID.
func (s *Service) SearchAll(ctx context.Context, tenant string, q ListQuery) (ListResult, error) {
	if q.Cursor != nil {
		return ListResult{}, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
			"cursor pagination is offered on /Users and /Groups, not on a search at the root; use startIndex")
	}
	count := q.Count
	if count < 0 {
		count = DefaultCount
	}
	count = min(count, MaxResults)
	start := max(q.StartIndex, 1)
	res := ListResult{StartIndex: start}
	var firstErr error
	searched := 0
	skipped := 0 // matches of earlier types, for the startIndex of later ones
	for _, typ := range []scimtrail.ResourceType{scimtrail.UserResource, scimtrail.GroupResource} {
		sub := q
		sub.StartIndex = max(start-skipped, 1)
		sub.Count = count - len(res.Views)
		r, err := s.ListResources(ctx, tenant, typ, sub)
		if scimtrail.ErrorScimType(err) == scimtrail.ScimInvalidFilter || scimtrail.ErrorScimType(err) == scimtrail.ScimInvalidValue {
			// Not a filter (or sort) for this type: it matches none of its resources.
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
