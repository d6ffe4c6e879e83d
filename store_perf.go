package scimtrail

import (
	"context"
	"time"
)

// BatchReadTx reads what rendering a page of resources needs in one query per page rather
// than one per resource: a list of 100 users used to run 100 MemberOf queries.
type BatchReadTx interface {
	// MembersMany returns the direct members of each of the groups, keyed by group id,
	// each list as Members returns it (ordered by value). Groups without members, and ids
	// that are not groups of the tenant, have no key.
	MembersMany(ctx context.Context, tenant string, groupIDs []string) (map[string][]MemberRef, error)
	// MemberOfMany returns the groups that directly contain each of the ids, keyed by
	// member id, each list as MemberOf returns it (ordered by value). Ids in no group have
	// no key.
	MemberOfMany(ctx context.Context, tenant string, memberIDs []string) (map[string][]MemberRef, error)
	// MemberOfCreated answers as MemberOfMany does, for members that were all created
	// within [from, to], as the users of a list page in creation order are: a backend may
	// read the memberships of every resource created in that span in one index range (one
	// lookup per id was a sixth of a page's CPU) and keep those of memberIDs. Callers use it
	// only when the span holds few other resources.
	MemberOfCreated(ctx context.Context, tenant string, memberIDs []string, from, to time.Time) (map[string][]MemberRef, error)
	// ResourcesByID returns the resources of typ among ids (those that exist in the
	// tenant), complete, in no particular order: the rest of a KeysOnly page.
	ResourcesByID(ctx context.Context, tenant string, typ ResourceType, ids []string) ([]Resource, error)
	// MembersUpTo returns at most limit of the group's direct members, the first as Members
	// orders them. A write answers with a small group read inside its transaction this way,
	// and learns from a full result that the group may be too big for that.
	MembersUpTo(ctx context.Context, tenant, groupID string, limit int) ([]MemberRef, error)
}
