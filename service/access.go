package service

import (
	"context"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

var roleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)

// RoleInput is a role as a client declares it.
type RoleInput struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Privileged  bool     `json:"privileged"`
	Permissions []string `json:"permissions"`
}

// RolePatch changes a role; nil fields are left as they are.
type RolePatch struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Privileged  *bool     `json:"privileged"`
	Permissions *[]string `json:"permissions"`
}

func roleTarget(r scimtrail.Role) *scimtrail.Target {
	return &scimtrail.Target{Type: "Role", ID: r.ID, Display: r.Name}
}

// CreateRole adds a role to the global catalogue (tenant "") or a tenant's. Returns
// EINVALID for a bad id or a missing name, ECONFLICT when the id was ever used in that
// catalogue or, for a tenant role, by a global role.
func (s *Service) CreateRole(ctx context.Context, o Origin, tenant string, in RoleInput) (scimtrail.Role, scimtrail.Receipt, error) {
	if !roleIDPattern.MatchString(in.ID) {
		return scimtrail.Role{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"role id %q must be 1 to 64 characters of a-z, 0-9, '_', '.', ':' or '-', starting with a letter or digit", in.ID)
	}
	if in.Name == "" {
		return scimtrail.Role{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a role needs a \"name\"")
	}
	r := scimtrail.Role{Tenant: tenant, ID: in.ID, Name: in.Name, Description: in.Description, Privileged: in.Privileged,
		Permissions: slices.Clone(in.Permissions)}
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		if tenant != "" {
			if err := tenantExists(ctx, tx, tenant); err != nil {
				return err
			}
			if _, err := tx.Role(ctx, "", in.ID); err == nil {
				return scimtrail.Errorf(scimtrail.ECONFLICT, "role id %q is a global role", in.ID)
			} else if !isNotFound(err) {
				return err
			}
		}
		r.Created = s.stamp()
		if err := tx.InsertRole(ctx, r); err != nil {
			return err
		}
		var err error
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, r.Created, scimtrail.Entry{Action: "role.created", Target: roleTarget(r),
			Changes: []scimtrail.Change{{Path: "name", New: r.Name}, {Path: "description", New: r.Description},
				{Path: "privileged", New: r.Privileged}, {Path: "permissions", New: r.Permissions}}})
		return err
	})
	return r, rc, err
}

// Roles lists a catalogue: the global one for tenant "", otherwise the global roles and
// then the tenant's own. Retired roles are included, marked by their retired time.
func (s *Service) Roles(ctx context.Context, tenant string) ([]scimtrail.Role, error) {
	var out []scimtrail.Role
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		scopes := []string{""}
		if tenant != "" {
			if err := tenantExists(ctx, tx, tenant); err != nil {
				return err
			}
			scopes = append(scopes, tenant)
		}
		for _, sc := range scopes {
			rs, err := tx.Roles(ctx, sc)
			if err != nil {
				return err
			}
			out = append(out, rs...)
		}
		return nil
	})
	return out, err
}

// UpdateRole renames, redescribes or changes a role. The ledger keeps the old values, so
// history still shows the name a role had then. Returns ENOTFOUND, EINVALID (a retired role
// or an empty name).
func (s *Service) UpdateRole(ctx context.Context, o Origin, tenant, id string, p RolePatch) (scimtrail.Role, scimtrail.Receipt, error) {
	var r scimtrail.Role
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		cur, err := tx.Role(ctx, tenant, id)
		if err != nil {
			return err
		}
		if !cur.Retired.IsZero() {
			return scimtrail.Errorf(scimtrail.EINVALID, "role %q is retired and cannot be changed", id)
		}
		r = cur
		var changes []scimtrail.Change
		if p.Name != nil && *p.Name != cur.Name {
			if *p.Name == "" {
				return scimtrail.Errorf(scimtrail.EINVALID, "a role's \"name\" must not be empty")
			}
			r.Name = *p.Name
			changes = append(changes, scimtrail.Change{Path: "name", Old: cur.Name, New: r.Name})
		}
		if p.Description != nil && *p.Description != cur.Description {
			r.Description = *p.Description
			changes = append(changes, scimtrail.Change{Path: "description", Old: cur.Description, New: r.Description})
		}
		if p.Privileged != nil && *p.Privileged != cur.Privileged {
			r.Privileged = *p.Privileged
			changes = append(changes, scimtrail.Change{Path: "privileged", Old: cur.Privileged, New: r.Privileged})
		}
		if p.Permissions != nil && !slices.Equal(*p.Permissions, cur.Permissions) {
			r.Permissions = append([]string{}, *p.Permissions...)
			changes = append(changes, scimtrail.Change{Path: "permissions", Old: cur.Permissions, New: r.Permissions})
		}
		at := s.stamp()
		if len(changes) == 0 {
			rc, err = appendEntries(ctx, tx, logOf(tenant), o, at)
			return err
		}
		if err := tx.UpdateRole(ctx, r); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, at, scimtrail.Entry{Action: "role.updated", Target: roleTarget(r), Changes: changes})
		return err
	})
	return r, rc, err
}

// RetireRole retires a role: it grants nothing from then on, its id is never reused, and
// every holder's access to it is revoked. A tenant role's revocations are in the same
// transaction as its retirement; a global role's are applied tenant by tenant right after,
// each in its tenant's log. Returns ENOTFOUND, ECONFLICT if already retired.
func (s *Service) RetireRole(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		r, err := tx.Role(ctx, tenant, id)
		if err != nil {
			return err
		}
		if !r.Retired.IsZero() {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "role %q is already retired", id)
		}
		at := s.stamp()
		r.Retired = at
		if err := tx.UpdateRole(ctx, r); err != nil {
			return err
		}
		entries := []scimtrail.Entry{{Action: "role.retired", Target: roleTarget(r)}}
		if tenant != "" {
			derived, err := s.recomputeHolders(ctx, tx, tenant, at, id)
			if err != nil {
				return err
			}
			entries = append(entries, derived...)
		}
		rc, err = appendEntries(ctx, tx, logOf(tenant), o, at, entries...)
		return err
	})
	if err != nil || tenant != "" {
		return rc, err
	}
	tenants, err := s.Tenants(ctx)
	if err != nil {
		return rc, err
	}
	for _, t := range tenants {
		err := s.store.Update(ctx, t.ID, func(tx scimtrail.Tx) error {
			at := s.stamp()
			derived, err := s.recomputeHolders(ctx, tx, t.ID, at, id)
			if err != nil || len(derived) == 0 {
				return err
			}
			for i := range derived {
				derived[i].Cause, derived[i].Reason = 0, "global role "+id+" was retired"
			}
			_, err = appendEntries(ctx, tx, t.ID, o, at, derived...)
			return err
		})
		if err != nil {
			return rc, err
		}
	}
	return rc, nil
}

// recomputeHolders recomputes every user who holds role now.
func (s *Service) recomputeHolders(ctx context.Context, tx scimtrail.Tx, tenant string, at time.Time, role string) ([]scimtrail.Entry, error) {
	ivs, err := tx.AccessAt(ctx, tenant, at, "", role)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, iv := range ivs {
		users = append(users, iv.UserID)
	}
	st, err := loadAccessState(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	return s.recomputeAccess(ctx, tx, tenant, at, st, users)
}

// liveRole checks that role names a role in use in the tenant (its own or global).
func liveRole(ctx context.Context, tx scimtrail.ReadTx, tenant, role string) (scimtrail.Role, error) {
	if role == "" {
		return scimtrail.Role{}, scimtrail.Errorf(scimtrail.EINVALID, "a \"role\" id is required")
	}
	r, err := tx.Role(ctx, tenant, role)
	if isNotFound(err) {
		r, err = tx.Role(ctx, "", role)
	}
	if isNotFound(err) {
		return r, scimtrail.Errorf(scimtrail.EINVALID, "role %q does not exist in tenant %s or the global catalogue", role, tenant)
	} else if err != nil {
		return r, err
	}
	if !r.Retired.IsZero() {
		return r, scimtrail.Errorf(scimtrail.EINVALID, "role %q is retired", role)
	}
	return r, nil
}

func mappingEntry(act string, m scimtrail.RoleMapping, created bool) scimtrail.Entry {
	c := []scimtrail.Change{{Path: "group_id"}, {Path: "role"}}
	if created {
		c[0].New, c[1].New = m.GroupID, m.Role
	} else {
		c[0].Old, c[1].Old = m.GroupID, m.Role
	}
	return scimtrail.Entry{Action: act, Target: &scimtrail.Target{Type: "Mapping", ID: m.ID}, Changes: c}
}

// CreateMapping maps a group to a role: every user in the group, directly or through
// nested groups, holds the role. Returns EINVALID (no such group or role), ECONFLICT.
func (s *Service) CreateMapping(ctx context.Context, o Origin, tenant, groupID, role string) (scimtrail.RoleMapping, scimtrail.Receipt, error) {
	m := scimtrail.RoleMapping{Tenant: tenant, ID: newID(), GroupID: groupID, Role: role}
	rc, err := s.withAccessPlan(ctx, o, tenant, accessChange{
		check: func(tx scimtrail.ReadTx) error {
			if err := tenantExists(ctx, tx, tenant); err != nil {
				return err
			}
			if _, err := tx.Resource(ctx, tenant, scimtrail.GroupResource, groupID); isNotFound(err) {
				return scimtrail.Errorf(scimtrail.EINVALID, "group %q does not exist in tenant %s", groupID, tenant)
			} else if err != nil {
				return err
			}
			_, err := liveRole(ctx, tx, tenant, role)
			return err
		},
		decide: func(tx scimtrail.ReadTx, at time.Time, st accessState) (accessPlan, error) {
			st.graph.AddMapping(groupID, role)
			users, err := usersUnder(ctx, tx, tenant, st.graph, []string{groupID})
			if err != nil {
				return accessPlan{}, err
			}
			return planAccess(ctx, tx, tenant, at, st, users)
		},
		lead: func(at time.Time) []scimtrail.Entry {
			m.Created = at
			return []scimtrail.Entry{mappingEntry("mapping.created", m, true)}
		},
		write: func(tx scimtrail.Tx, at time.Time, plan accessPlan) error {
			m.Created = at
			if err := tx.InsertMapping(ctx, m); err != nil {
				return err
			}
			return plan.apply(ctx, tx)
		},
	})
	return m, rc, err
}

// Mappings lists a tenant's mappings.
func (s *Service) Mappings(ctx context.Context, tenant string) ([]scimtrail.RoleMapping, error) {
	var out []scimtrail.RoleMapping
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		out, err = tx.Mappings(ctx, tenant)
		return err
	})
	return out, err
}

// DeleteMapping removes a mapping and revokes what only it granted. Returns ENOTFOUND.
func (s *Service) DeleteMapping(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	var m scimtrail.RoleMapping
	return s.withAccessPlan(ctx, o, tenant, accessChange{
		check: func(tx scimtrail.ReadTx) error {
			var err error
			m, err = tx.Mapping(ctx, tenant, id)
			return err
		},
		decide: func(tx scimtrail.ReadTx, at time.Time, st accessState) (accessPlan, error) {
			st.graph.RemoveMapping(m.GroupID, m.Role)
			users, err := usersUnder(ctx, tx, tenant, st.graph, []string{m.GroupID})
			if err != nil {
				return accessPlan{}, err
			}
			return planAccess(ctx, tx, tenant, at, st, users)
		},
		lead: func(time.Time) []scimtrail.Entry { return []scimtrail.Entry{mappingEntry("mapping.deleted", m, false)} },
		write: func(tx scimtrail.Tx, _ time.Time, plan accessPlan) error {
			if err := tx.DeleteMapping(ctx, tenant, id); err != nil {
				return err
			}
			return plan.apply(ctx, tx)
		},
	})
}

func grantTarget(g scimtrail.Grant) *scimtrail.Target {
	return &scimtrail.Target{Type: "Grant", ID: g.ID}
}

// GrantRole gives a role to one user directly. Returns EINVALID (no such user or role, no
// reason), ENOTFOUND for the tenant.
func (s *Service) GrantRole(ctx context.Context, o Origin, tenant, userID, role, reason string) (scimtrail.Grant, scimtrail.Receipt, error) {
	if reason == "" {
		return scimtrail.Grant{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a direct grant needs a \"reason\"")
	}
	g := scimtrail.Grant{Tenant: tenant, ID: newID(), UserID: userID, Role: role, Kind: scimtrail.GrantDirect, Reason: reason, By: o.Actor.ID}
	rc, err := s.insertGrant(ctx, o, &g, "grant.created", 0)
	return g, rc, err
}

// insertGrant stores g, which expires ttl after it is made when ttl is not 0, and recomputes
// the user's access, all in one transaction.
func (s *Service) insertGrant(ctx context.Context, o Origin, g *scimtrail.Grant, act string, ttl time.Duration) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, g.Tenant, func(tx scimtrail.Tx) error {
		at := s.stamp()
		entries, err := s.grantEntries(ctx, tx, g, act, ttl, at)
		if err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, g.Tenant, o, at, entries...)
		return err
	})
	return rc, err
}

// checkGrantable returns EINVALID unless the user exists and is active and the role is live,
// and ENOTFOUND for the tenant. It returns the role.
func checkGrantable(ctx context.Context, tx scimtrail.ReadTx, tenant, userID, role string) (scimtrail.Role, error) {
	if err := tenantExists(ctx, tx, tenant); err != nil {
		return scimtrail.Role{}, err
	}
	u, err := tx.Resource(ctx, tenant, scimtrail.UserResource, userID)
	if isNotFound(err) {
		return scimtrail.Role{}, scimtrail.Errorf(scimtrail.EINVALID, "user %q does not exist in tenant %s", userID, tenant)
	} else if err != nil {
		return scimtrail.Role{}, err
	}
	if !u.Active {
		return scimtrail.Role{}, scimtrail.Errorf(scimtrail.EINVALID, "user %q is deactivated and can hold no access", userID)
	}
	return liveRole(ctx, tx, tenant, role)
}

// grantEntries stores g, made at at and expiring ttl later when ttl is not 0, recomputes the
// user's access and returns the entries that record both, for the caller to append.
func (s *Service) grantEntries(ctx context.Context, tx scimtrail.Tx, g *scimtrail.Grant, act string, ttl time.Duration, at time.Time) ([]scimtrail.Entry, error) {
	role, err := checkGrantable(ctx, tx, g.Tenant, g.UserID, g.Role)
	if err != nil {
		return nil, err
	}
	g.Created = at
	if ttl != 0 {
		g.Expires = at.Add(ttl)
	}
	if err := checkExternalGrant(ctx, tx, g, role, at); err != nil { // external.go
		return nil, err
	}
	if err := tx.InsertGrant(ctx, *g); err != nil {
		return nil, err
	}
	changes := []scimtrail.Change{{Path: "user_id", New: g.UserID}, {Path: "role", New: g.Role}}
	if !g.Expires.IsZero() {
		changes = append(changes, scimtrail.Change{Path: "expires", New: g.Expires.Format(scimtrail.TimeFormat)})
	}
	st, err := loadAccessState(ctx, tx, g.Tenant)
	if err != nil {
		return nil, err
	}
	derived, err := s.recomputeAccess(ctx, tx, g.Tenant, at, st, []string{g.UserID})
	if err != nil {
		return nil, err
	}
	e := scimtrail.Entry{Action: act, Target: grantTarget(*g), Changes: changes, Reason: g.Reason}
	return append([]scimtrail.Entry{e}, derived...), nil
}

// RevokeGrant revokes a direct or break-glass grant. Returns ENOTFOUND, ECONFLICT when it
// is already revoked.
func (s *Service) RevokeGrant(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		g, err := tx.Grant(ctx, tenant, id)
		if err != nil {
			return err
		}
		if !g.Revoked.IsZero() {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "grant %q is already revoked", id)
		}
		at := s.stamp()
		g.Revoked = at
		if err := tx.UpdateGrant(ctx, g); err != nil {
			return err
		}
		st, err := loadAccessState(ctx, tx, tenant)
		if err != nil {
			return err
		}
		derived, err := s.recomputeAccess(ctx, tx, tenant, at, st, []string{g.UserID})
		if err != nil {
			return err
		}
		e := scimtrail.Entry{Action: "grant.revoked", Target: grantTarget(g),
			Changes: []scimtrail.Change{{Path: "user_id", Old: g.UserID}, {Path: "role", Old: g.Role}}}
		rc, err = appendEntries(ctx, tx, tenant, o, at, append([]scimtrail.Entry{e}, derived...)...)
		return err
	})
	return rc, err
}

// ExpireAccess ends, at their expiry instants, the tenant's break-glass access and
// expiring direct grants whose expiry has passed, with an access.expired entry each (actor system). Reads already stop
// counting such access at the instant; this makes the intervals and the log say so too.
func (s *Service) ExpireAccess(ctx context.Context, tenant string) (int, scimtrail.Receipt, error) {
	var n int
	var rc scimtrail.Receipt
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "expirer"}, Channel: scimtrail.ChannelSystem}
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		at := s.stamp()
		ivs, err := tx.ExpiredAccess(ctx, tenant, at)
		if err != nil || len(ivs) == 0 {
			return err
		}
		var entries []scimtrail.Entry
		for i := range ivs {
			ivs[i].To = ivs[i].Expires
			entries = append(entries, scimtrail.Entry{Action: access.ActionExpired,
				Target: &scimtrail.Target{Type: string(scimtrail.UserResource), ID: ivs[i].UserID}, Changes: access.EndedChanges(ivs[i])})
		}
		if err := tx.CloseAccess(ctx, ivs); err != nil {
			return err
		}
		n = len(ivs)
		rc, err = appendEntries(ctx, tx, tenant, o, at, entries...)
		return err
	})
	return n, rc, err
}

// RunExpirer calls ExpireAccess for every tenant every interval until ctx ends, logging
// failures and going on with the next tenant.
func (s *Service) RunExpirer(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tenants, err := s.Tenants(ctx)
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("expire access: list tenants", "err", err)
			}
			continue
		}
		for _, tn := range tenants {
			if _, _, err := s.ExpireAccess(ctx, tn.ID); err != nil && ctx.Err() == nil {
				logger.Error("expire access", "tenant", tn.ID, "err", err)
			}
		}
	}
}

// AccessAnswer is the answer of the access reads: every user's access at an instant.
type AccessAnswer struct {
	At    time.Time           `json:"at"`
	Users []access.UserAccess `json:"users"`
}

// AccessAt returns effective access with provenance at the instant at (zero: now), for one
// user and/or one role when those are not "". Returns ENOTFOUND for the tenant, or for a
// user or role that does not exist.
func (s *Service) AccessAt(ctx context.Context, tenant string, at time.Time, userID, role string) (AccessAnswer, error) {
	if at.IsZero() {
		at = s.now()
	}
	ans := AccessAnswer{At: at.UTC()}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		if userID != "" {
			if _, err := loadResource(ctx, tx, tenant, scimtrail.UserResource, userID); err != nil {
				// A deleted user's past access stays answerable.
				if !isNotFound(err) {
					return err
				}
			}
		}
		if role != "" {
			if _, err := tx.Role(ctx, tenant, role); isNotFound(err) {
				if _, err := tx.Role(ctx, "", role); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		ivs, err := tx.AccessAt(ctx, tenant, at, userID, role)
		if err != nil {
			return err
		}
		ans.Users = access.Summarize(ivs)
		return nil
	})
	if ans.Users == nil {
		ans.Users = []access.UserAccess{}
	}
	return ans, err
}
