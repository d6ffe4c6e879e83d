package service

import (
	"context"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// This file keeps effective access current inside the write path: every change that can
// move a role (memberships, users' active flag and SCIM roles, group and user deletion,
// mappings, grants, role retirement) ends with recomputeAccess for the users it can
// affect, in the same transaction, and the access.granted / access.revoked entries it
// returns are appended with the change's own entries.

// accessState is what recomputing needs of a tenant beyond the users themselves.
type accessState struct {
	graph      *access.Graph
	live       map[string]bool
	privileged map[string]bool
	// bar is the tenant's policy barring externals from privileged roles; refusals says
	// whether to reconcile refused access at all (bar is on, or a policy change asks).
	bar, refusals bool
}

func (st accessState) isLive(role string) bool { return st.live[role] }

func loadAccessState(ctx context.Context, tx scimtrail.ReadTx, tenant string) (accessState, error) {
	st, err := loadLiveRoles(ctx, tx, tenant)
	if err != nil {
		return st, err
	}
	return st.withGraph(ctx, tx, tenant)
}

// loadLiveRoles is the first half of loadAccessState: enough to know that nobody can hold
// access (no live role), without reading the group graph and mappings.
func loadLiveRoles(ctx context.Context, tx scimtrail.ReadTx, tenant string) (accessState, error) {
	st := accessState{live: map[string]bool{}, privileged: map[string]bool{}}
	for _, scope := range []string{"", tenant} {
		roles, err := tx.Roles(ctx, scope)
		if err != nil {
			return st, err
		}
		for _, r := range roles {
			if r.Retired.IsZero() {
				st.live[r.ID] = true
				st.privileged[r.ID] = r.Privileged
			}
		}
	}
	return st, nil
}

func (st accessState) withGraph(ctx context.Context, tx scimtrail.ReadTx, tenant string) (accessState, error) {
	edges, err := tx.GroupEdges(ctx, tenant)
	if err != nil {
		return st, err
	}
	mappings, err := tx.Mappings(ctx, tenant)
	if err != nil {
		return st, err
	}
	st.graph = access.NewGraph(edges, mappings, st.isLive)
	pol, err := tx.ExternalPolicy(ctx, tenant)
	if err != nil {
		return st, err
	}
	st.bar, st.refusals = pol.BarPrivileged, pol.BarPrivileged
	return st, nil
}

// usersUnder lists the users in the groups, directly or through nested groups.
func usersUnder(ctx context.Context, tx scimtrail.ReadTx, tenant string, g *access.Graph, groups []string) ([]string, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	return tx.UsersInGroups(ctx, tenant, g.Descendants(groups))
}

// recomputeAccess brings the access intervals of users in line with the current state and
// returns the entries recording what changed, each caused by the first entry of the append
// it joins. Users that no longer exist or are deactivated lose everything.
func (s *Service) recomputeAccess(ctx context.Context, tx scimtrail.Tx, tenant string, at time.Time, st accessState, users []string) ([]scimtrail.Entry, error) {
	plan, err := planAccess(ctx, tx, tenant, at, st, users)
	if err != nil {
		return nil, err
	}
	return plan.entries, plan.apply(ctx, tx)
}

// accessPlan is what a recompute decided: the intervals and refusals to end, and the
// entries recording the change, which carry the intervals and refusals they open
// (Entry.Opens, Entry.Refuses; stored with the entries, write.go). Deciding only reads, so
// it can run outside the writer (access_prepared.go); applying it writes.
type accessPlan struct {
	end           []scimtrail.AccessInterval
	endedRefusals []scimtrail.AccessRefusal
	entries       []scimtrail.Entry
}

// apply ends the plan's intervals and refusals; its entries are the caller's to append.
func (p accessPlan) apply(ctx context.Context, tx scimtrail.Tx) error {
	if err := tx.CloseAccess(ctx, p.end); err != nil {
		return err
	}
	return tx.CloseRefusals(ctx, p.endedRefusals)
}

// planAccess is recomputeAccess without the writes.
func planAccess(ctx context.Context, tx scimtrail.ReadTx, tenant string, at time.Time, st accessState, users []string) (accessPlan, error) {
	var p accessPlan
	users = slices.Compact(slices.Sorted(slices.Values(users)))
	// With no role in use nobody can hold access (retiring a role ends its intervals), so
	// tenants that do not use the access model pay nothing on the SCIM write path.
	if len(users) == 0 || len(st.live) == 0 {
		return p, nil
	}
	subjects, err := tx.AccessUsers(ctx, tenant, users)
	if err != nil {
		return p, err
	}
	byID := make(map[string]scimtrail.AccessUser, len(subjects))
	for _, u := range subjects {
		byID[u.ID] = u
	}
	grants, err := tx.Grants(ctx, tenant, users)
	if err != nil {
		return p, err
	}
	grantsOf := map[string][]scimtrail.Grant{}
	for _, g := range grants {
		grantsOf[g.UserID] = append(grantsOf[g.UserID], g)
	}
	appGrantsOf, err := appGrantsOf(ctx, tx, tenant, users) // access_appgrants.go
	if err != nil {
		return p, err
	}
	open, err := tx.OpenAccess(ctx, tenant, users)
	if err != nil {
		return p, err
	}
	openOf := map[string][]scimtrail.AccessInterval{}
	for _, iv := range open {
		openOf[iv.UserID] = append(openOf[iv.UserID], iv)
	}
	ref, err := loadRefusals(ctx, tx, tenant, at, st, users) // external.go
	if err != nil {
		return p, err
	}
	for _, id := range users {
		u, exists := byID[id]
		subject := access.Subject{Active: exists && u.Active, Groups: u.Groups, Grants: grantsOf[id], AppGrants: appGrantsOf[id]}
		if exists {
			subject.SCIMRoles = access.SCIMRoles(u.Attributes)
		}
		want := access.Effective(st.graph, subject, st.isLive, at)
		tgt := &scimtrail.Target{Type: string(scimtrail.UserResource), ID: id, Display: u.Display}
		want, refusedEntries := ref.apply(st, id, tgt, want)
		p.entries = append(p.entries, refusedEntries...)
		grant, revoke := access.Diff(openOf[id], want)
		for _, iv := range revoke {
			act := access.ActionRevoked
			iv.To = at
			if !iv.Expires.IsZero() && !iv.Expires.After(at) {
				act, iv.To = access.ActionExpired, iv.Expires
			}
			p.end = append(p.end, iv)
			p.entries = append(p.entries, scimtrail.Entry{Action: act, Target: tgt, Changes: access.EndedChanges(iv), Cause: causeFirst})
		}
		for _, h := range grant {
			// The interval is stored with the entry, which gives it its seq (write.go).
			iv := &scimtrail.AccessInterval{Tenant: tenant, UserID: id, Role: h.Role, Path: h.Path, From: at, Expires: h.Expires}
			p.entries = append(p.entries, scimtrail.Entry{Action: access.ActionGranted, Target: tgt, Changes: access.GrantedChanges(h), Cause: causeFirst, Opens: iv})
		}
	}
	p.endedRefusals = ref.ended // filled by ref.apply above
	return p, nil
}

// accessAfterChange is the write path's hook after a resource was created or updated (its
// row and membership rows already written): it rejects memberships that would make a group
// contain itself, and recomputes the access of every user the change can reach.
func (s *Service) accessAfterChange(ctx context.Context, tx scimtrail.Tx, at time.Time, r scimtrail.Resource, added []scimtrail.Member, removed []string) ([]scimtrail.Entry, error) {
	if r.Type == scimtrail.UserResource {
		// A user's own change needs the graph only when some role is live: tenants that
		// do not use the access model read two catalogues and nothing else per write.
		st, err := loadLiveRoles(ctx, tx, r.Tenant)
		if err != nil || len(st.live) == 0 {
			return nil, err
		}
		if st, err = st.withGraph(ctx, tx, r.Tenant); err != nil {
			return nil, err
		}
		return s.recomputeAccess(ctx, tx, r.Tenant, at, st, []string{r.ID})
	}
	st, err := loadLiveRoles(ctx, tx, r.Tenant)
	if err != nil {
		return nil, err
	}
	// With no live role nobody's access can change; the graph is still needed to refuse a
	// cycle when a group is added as a member.
	nested := slices.ContainsFunc(added, func(m scimtrail.Member) bool { return m.Type == scimtrail.GroupResource })
	if len(st.live) == 0 && !nested {
		return nil, nil
	}
	if st, err = st.withGraph(ctx, tx, r.Tenant); err != nil {
		return nil, err
	}
	touched := slices.Clone(removed)
	for _, m := range added {
		touched = append(touched, m.Value)
		if m.Type == scimtrail.GroupResource && st.graph.WouldCycle(r.ID, m.Value) {
			return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
				"group %q cannot be a member of group %q: it already contains %q, directly or through nested groups, and groups must not contain themselves",
				m.Value, r.ID, r.ID)
		}
	}
	// An id may name a user or a group: as a user it is recomputed itself; as a group,
	// every user under it is.
	users, err := usersUnder(ctx, tx, r.Tenant, st.graph, touched)
	if err != nil {
		return nil, err
	}
	return s.recomputeAccess(ctx, tx, r.Tenant, at, st, append(users, touched...))
}

// accessBeforeDelete is the write path's hook before a resource is deleted: it notes the
// users who may lose access (a group's, found before its membership rows go), removes the
// group's mappings with an entry each, and returns the function to call after the
// deletion, which recomputes them.
func (s *Service) accessBeforeDelete(ctx context.Context, tx scimtrail.Tx, at time.Time, r scimtrail.Resource) (func() ([]scimtrail.Entry, error), error) {
	users := []string{r.ID}
	var entries []scimtrail.Entry
	if r.Type == scimtrail.GroupResource {
		st, err := loadAccessState(ctx, tx, r.Tenant)
		if err != nil {
			return nil, err
		}
		if users, err = usersUnder(ctx, tx, r.Tenant, st.graph, []string{r.ID}); err != nil {
			return nil, err
		}
		mappings, err := tx.Mappings(ctx, r.Tenant)
		if err != nil {
			return nil, err
		}
		for _, m := range mappings {
			if m.GroupID != r.ID {
				continue
			}
			if err := tx.DeleteMapping(ctx, r.Tenant, m.ID); err != nil {
				return nil, err
			}
			e := mappingEntry("mapping.deleted", m, false)
			e.Reason, e.Cause = "the group was deleted", causeFirst
			entries = append(entries, e)
		}
	}
	return func() ([]scimtrail.Entry, error) {
		st, err := loadAccessState(ctx, tx, r.Tenant)
		if err != nil {
			return nil, err
		}
		derived, err := s.recomputeAccess(ctx, tx, r.Tenant, at, st, users)
		return append(entries, derived...), err
	}, nil
}
