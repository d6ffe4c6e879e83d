package service

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// External collaborators (access issue, item 2). Who is external is decided by
// access.External from the user's document and the tenant's own domains; every change of
// a user's status is kept (trackExternal on user writes, a re-evaluation of every user when
// the domains change), so reports tell who was external at their instant. With the policy
// bar_privileged, an external user's paths to privileged roles are refused: the direct
// routes answer 400, and paths the IdP makes (groups, SCIM roles) are kept as refusals
// with an access.refused entry each instead of being effective.

// ActionRefused is the entry of access a tenant policy keeps from being effective.
const ActionRefused = "access.refused"

var domainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)

// ExternalPolicyInput changes a tenant's external policy; nil fields are left as they are.
type ExternalPolicyInput struct {
	Domains       *[]string `json:"domains"`
	BarPrivileged *bool     `json:"bar_privileged"`
	GrantDays     *int      `json:"grant_days"`
}

// ExternalPolicy returns the tenant's external policy. Returns ENOTFOUND for the tenant.
func (s *Service) ExternalPolicy(ctx context.Context, tenant string) (scimtrail.ExternalPolicy, error) {
	var p scimtrail.ExternalPolicy
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		p, err = tx.ExternalPolicy(ctx, tenant)
		return err
	})
	if p.Domains == nil {
		p.Domains = []string{}
	}
	return p, err
}

// PutExternalPolicy changes the tenant's external policy. A change of domains re-evaluates
// every user's status; a change of domains or of bar_privileged recomputes the access of
// every user holding or refused any, in the same transaction. Returns EINVALID for a bad
// domain or grant_days, ENOTFOUND for the tenant.
func (s *Service) PutExternalPolicy(ctx context.Context, o Origin, tenant string, in ExternalPolicyInput) (scimtrail.ExternalPolicy, scimtrail.Receipt, error) {
	var p scimtrail.ExternalPolicy
	if in.Domains != nil {
		if len(*in.Domains) > 100 {
			return p, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "at most 100 \"domains\"")
		}
		ds := []string{}
		for _, d := range *in.Domains {
			d = strings.ToLower(strings.TrimSpace(d))
			if !domainPattern.MatchString(d) {
				return p, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "%q is not a domain name such as acme.example", d)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		in.Domains = &ds
	}
	if in.GrantDays != nil && (*in.GrantDays < 0 || *in.GrantDays > 3650) {
		return p, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"grant_days\" must be from 0 (no expiry) to 3650")
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		cur, err := tx.ExternalPolicy(ctx, tenant)
		if err != nil {
			return err
		}
		p = cur
		var changes []scimtrail.Change
		if in.Domains != nil && !slices.Equal(*in.Domains, cur.Domains) {
			p.Domains = *in.Domains
			changes = append(changes, scimtrail.Change{Path: "domains", Old: nonNilStrings(cur.Domains), New: p.Domains})
		}
		if in.BarPrivileged != nil && *in.BarPrivileged != cur.BarPrivileged {
			p.BarPrivileged = *in.BarPrivileged
			changes = append(changes, scimtrail.Change{Path: "bar_privileged", Old: cur.BarPrivileged, New: p.BarPrivileged})
		}
		if in.GrantDays != nil && *in.GrantDays != cur.GrantDays {
			p.GrantDays = *in.GrantDays
			changes = append(changes, scimtrail.Change{Path: "grant_days", Old: cur.GrantDays, New: p.GrantDays})
		}
		at := s.stamp()
		if len(changes) == 0 {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		p.Updated = at
		if err := tx.PutExternalPolicy(ctx, p); err != nil {
			return err
		}
		entries := []scimtrail.Entry{{Action: "external.policy_updated", Target: &scimtrail.Target{Type: "Tenant", ID: tenant}, Changes: changes}}
		domainsChanged := !slices.Equal(p.Domains, cur.Domains)
		if domainsChanged || p.BarPrivileged != cur.BarPrivileged {
			derived, err := s.reevaluateExternal(ctx, tx, tenant, at, p, domainsChanged)
			if err != nil {
				return err
			}
			entries = append(entries, derived...)
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, entries...)
		return err
	})
	s.configs.drop(tenant)
	if p.Domains == nil {
		p.Domains = []string{}
	}
	return p, rc, err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// reevaluateExternal records the status changes p's domains make (when they changed) and
// recomputes the access of every user holding or refused access, or whose status changed.
func (s *Service) reevaluateExternal(ctx context.Context, tx scimtrail.Tx, tenant string, at time.Time, p scimtrail.ExternalPolicy, domainsChanged bool) ([]scimtrail.Entry, error) {
	var users []string
	if domainsChanged {
		recorded, err := tx.ExternalAt(ctx, tenant, nil, at)
		if err != nil {
			return nil, err
		}
		var changes []scimtrail.ExternalChange
		q := scimtrail.Query{Type: scimtrail.UserResource, Count: 1000, After: &scimtrail.Position{}}
		for {
			page, err := tx.QueryResources(ctx, tenant, q)
			if err != nil {
				return nil, err
			}
			for _, u := range page.Resources {
				ext, why := access.External(u.Attributes, p.Domains)
				if ext != recorded[u.ID].External {
					changes = append(changes, scimtrail.ExternalChange{Tenant: tenant, UserID: u.ID, At: at, External: ext, Reason: why})
					users = append(users, u.ID)
				}
			}
			if len(page.Resources) < q.Count {
				break
			}
			last := page.Resources[len(page.Resources)-1]
			q.After = &scimtrail.Position{Created: last.Created, ID: last.ID}
		}
		if err := tx.InsertExternalChanges(ctx, changes); err != nil {
			return nil, err
		}
	}
	open, err := tx.OpenAccess(ctx, tenant, nil)
	if err != nil {
		return nil, err
	}
	for _, iv := range open {
		users = append(users, iv.UserID)
	}
	refused, err := tx.OpenRefusals(ctx, tenant, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range refused {
		users = append(users, r.UserID)
	}
	st, err := loadAccessState(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	st.refusals = true // also end the refusals of a bar that was lifted
	return s.recomputeAccess(ctx, tx, tenant, at, st, users)
}

// trackExternal records the change of a user's external status that a write of the user
// makes (cur nil: the user is new), and reports whether there was one. It runs before the
// access recompute of the same write, which reads the status. The tenant's domains come
// from its cached configuration.
func (s *Service) trackExternal(ctx context.Context, tx scimtrail.Tx, at time.Time, cur *scimtrail.Resource, next scimtrail.Resource) (bool, error) {
	if next.Type != scimtrail.UserResource {
		return false, nil
	}
	tc, err := s.config(ctx, next.Tenant)
	if err != nil {
		return false, err
	}
	c, changed := externalChange(tc, cur, next)
	if !changed {
		return false, nil
	}
	c.At = at
	return true, tx.InsertExternalChanges(ctx, []scimtrail.ExternalChange{c})
}

// externalChange is the change of external status that writing next over cur (nil: next is
// new) makes, without its time; changed is false when there is none. It is pure, so a
// create works it out before it reaches the writer.
func externalChange(tc *tenantConfig, cur *scimtrail.Resource, next scimtrail.Resource) (c scimtrail.ExternalChange, changed bool) {
	now, why := access.External(next.Attributes, tc.external.Domains)
	was := false
	if cur != nil {
		was, _ = access.External(cur.Attributes, tc.external.Domains)
	}
	if now == was {
		return c, false
	}
	return scimtrail.ExternalChange{Tenant: next.Tenant, UserID: next.ID, External: now, Reason: why}, true
}

// externalNow is a user's external status at at, as recorded.
func externalNow(ctx context.Context, tx scimtrail.ReadTx, tenant, userID string, at time.Time) (scimtrail.ExternalChange, error) {
	m, err := tx.ExternalAt(ctx, tenant, []string{userID}, at)
	return m[userID], err
}

// refusalState is what one recompute knows of refused access: the users' statuses (only
// when the bar is on) and their open refusals (only when refusals are reconciled).
type refusalState struct {
	tenant   string
	at       time.Time
	external map[string]scimtrail.ExternalChange
	open     map[string][]scimtrail.AccessRefusal
	ended    []scimtrail.AccessRefusal
}

func loadRefusals(ctx context.Context, tx scimtrail.ReadTx, tenant string, at time.Time, st accessState, users []string) (*refusalState, error) {
	r := &refusalState{tenant: tenant, at: at, open: map[string][]scimtrail.AccessRefusal{}}
	if !st.refusals {
		return r, nil
	}
	if st.bar {
		var err error
		if r.external, err = tx.ExternalAt(ctx, tenant, users, at); err != nil {
			return nil, err
		}
	}
	open, err := tx.OpenRefusals(ctx, tenant, users)
	if err != nil {
		return nil, err
	}
	for _, o := range open {
		r.open[o.UserID] = append(r.open[o.UserID], o)
	}
	return r, nil
}

// apply keeps from want the paths the bar refuses an external user, returns the rest and
// the access.refused entries of newly refused paths, and notes the refusals that ended.
func (r *refusalState) apply(st accessState, userID string, tgt *scimtrail.Target, want []access.Held) ([]access.Held, []scimtrail.Entry) {
	if !st.refusals {
		return want, nil
	}
	c := r.external[userID]
	var kept, refused []access.Held
	for _, h := range want {
		if st.bar && c.External && st.privileged[h.Role] {
			refused = append(refused, h)
		} else {
			kept = append(kept, h)
		}
	}
	key := func(role string, p scimtrail.AccessPath) string { return role + "|" + p.Key() }
	still := map[string]bool{}
	for _, h := range refused {
		still[key(h.Role, h.Path)] = true
	}
	had := map[string]bool{}
	for _, o := range r.open[userID] {
		had[key(o.Role, o.Path)] = true
		if !still[key(o.Role, o.Path)] {
			o.To = r.at
			r.ended = append(r.ended, o)
		}
	}
	var entries []scimtrail.Entry
	reason := "an external collaborator (" + c.Reason + "): tenant policy bars externals from privileged roles"
	for _, h := range refused {
		if had[key(h.Role, h.Path)] {
			continue
		}
		rf := &scimtrail.AccessRefusal{Tenant: r.tenant, UserID: userID, Role: h.Role, Path: h.Path, Reason: reason, From: r.at}
		entries = append(entries, scimtrail.Entry{Action: ActionRefused, Target: tgt, Reason: reason, Cause: causeFirst, Refuses: rf,
			Changes: []scimtrail.Change{{Path: "role", New: h.Role}, {Path: "path", New: h.Path}}})
	}
	return kept, entries
}

// checkExternalGrant applies the external policy to a direct or break-glass grant about to
// be made at at: refused for an external user and a privileged role under the bar; a
// direct grant to an external user expires after the policy's grant_days.
func checkExternalGrant(ctx context.Context, tx scimtrail.ReadTx, g *scimtrail.Grant, role scimtrail.Role, at time.Time) error {
	p, err := tx.ExternalPolicy(ctx, g.Tenant)
	if err != nil || (!p.BarPrivileged && p.GrantDays == 0) {
		return err
	}
	c, err := externalNow(ctx, tx, g.Tenant, g.UserID, at)
	if err != nil || !c.External {
		return err
	}
	if p.BarPrivileged && role.Privileged {
		return scimtrail.Errorf(scimtrail.EINVALID, "user %q is an external collaborator (%s) and tenant %s's policy bars externals from privileged roles such as %q",
			g.UserID, c.Reason, g.Tenant, role.ID)
	}
	if g.Kind == scimtrail.GrantDirect && p.GrantDays > 0 {
		g.Expires = at.Add(time.Duration(p.GrantDays) * 24 * time.Hour)
	}
	return nil
}
