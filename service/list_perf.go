package service

import (
	"context"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// viewPage is view for a page of resources of one type: one batched membership query for
// the whole page (a page of 100 users used to run 100 MemberOf queries), and none when the
// projection leaves the membership attribute out.
func viewPage(ctx context.Context, tx scimtrail.ReadTx, tenant string, typ scimtrail.ResourceType, rs []scimtrail.Resource, q ListQuery) ([]View, error) {
	views := make([]View, len(rs))
	ids := make([]string, len(rs))
	for i, r := range rs {
		views[i] = View{Resource: r}
		ids[i] = r.ID
	}
	var refs map[string][]scimtrail.MemberRef
	var err error
	switch {
	case len(rs) == 0:
	case typ == scimtrail.GroupResource && shown("members", q.Attributes, q.ExcludedAttributes):
		refs, err = tx.MembersMany(ctx, tenant, ids)
	case typ == scimtrail.UserResource && shown("groups", q.Attributes, q.ExcludedAttributes) && q.Filter == "" && q.SortBy == "":
		// An unfiltered page in creation order is every user created in its time span, so
		// the memberships of that span are the page's, plus those of any group created in it.
		from, to := rs[0].Created, rs[0].Created
		for _, r := range rs[1:] {
			from, to = minTime(from, r.Created), maxTime(to, r.Created)
		}
		refs, err = tx.MemberOfCreated(ctx, tenant, ids, from, to)
	case typ == scimtrail.UserResource && shown("groups", q.Attributes, q.ExcludedAttributes):
		refs, err = tx.MemberOfMany(ctx, tenant, ids)
	}
	if err != nil {
		return nil, err
	}
	for i, r := range rs {
		if typ == scimtrail.GroupResource {
			views[i].Members = refs[r.ID]
		} else {
			views[i].Groups = refs[r.ID]
		}
	}
	return views, nil
}

// completeViews finishes a page read with keys only (scimtrail.Query.KeysOnly): views whose
// document rendered knows get it, the others their full row, read in the same snapshot
// (so at the same version). A page whose documents are all cached reads no row in full:
// scanning 100 rows of 14 columns was about a quarter of a list page's CPU.
//
// When most documents are missing (a client walking every page once, a cold cache), the
// page is read again in full instead (fullPage): one more indexed page read, where reading
// the misses one id at a time would cost more than the full scan saved.
func completeViews(ctx context.Context, tx scimtrail.ReadTx, tenant string, typ scimtrail.ResourceType, views []View, rendered func(View) ([]byte, bool), fullPage func() ([]scimtrail.Resource, error)) error {
	var missing []string
	at := make(map[string]int, len(views))
	for i := range views {
		if b, ok := rendered(views[i]); ok {
			views[i].Rendered = b
			continue
		}
		missing = append(missing, views[i].Resource.ID)
		at[views[i].Resource.ID] = i
	}
	if len(missing) == 0 {
		return nil
	}
	var rs []scimtrail.Resource
	var err error
	if len(missing) > len(views)/2 {
		rs, err = fullPage()
	} else {
		rs, err = tx.ResourcesByID(ctx, tenant, typ, missing)
	}
	if err != nil {
		return err
	}
	for _, r := range rs {
		if i, ok := at[r.ID]; ok {
			views[i].Resource = r
			delete(at, r.ID)
		}
	}
	if len(at) > 0 {
		return scimtrail.Errorf(scimtrail.EINTERNAL, "%d resources of a list page were not found again in the same snapshot", len(at))
	}
	return nil
}

// MembersExcluded reports whether a response projected with attrs and excluded certainly
// leaves a group's members out (excludedAttributes=members, or attributes naming only
// others), so that nothing needs to read them.
func MembersExcluded(attrs, excluded []string) bool { return !shown("members", attrs, excluded) }

type withoutMembersKey struct{}

// WithoutMembers marks ctx as a group write whose response leaves the members out
// (MembersExcluded): the write then reads none for its response, which for a big group is
// most of the request (inside the writer up to inWriteMembers, after the commit beyond).
func WithoutMembers(ctx context.Context) context.Context {
	return context.WithValue(ctx, withoutMembersKey{}, true)
}

func membersWanted(ctx context.Context) bool { return ctx.Value(withoutMembersKey{}) == nil }

// shown reports whether the projection may show the core attribute name. It answers false
// only when that is certain: name (or its schema-qualified form) is excluded, or attributes
// lists only plain names that are neither name nor one of its sub-attributes. Anything else
// (schema URNs in attributes, sub-attributes excluded) loads it, and Project decides.
func shown(name string, attrs, excluded []string) bool {
	for _, a := range excluded {
		a = strings.ToLower(a)
		if a == name || a == "urn:ietf:params:scim:schemas:core:2.0:group:"+name || a == "urn:ietf:params:scim:schemas:core:2.0:user:"+name {
			return false
		}
	}
	if len(attrs) == 0 {
		return true
	}
	for _, a := range attrs {
		a = strings.ToLower(a)
		if strings.Contains(a, ":") || a == name || strings.HasPrefix(a, name+".") {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
