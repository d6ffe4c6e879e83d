package service

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// PrivilegedChange is one change touching a privileged role: an access grant, revocation
// or expiry, a direct or break-glass grant, a mapping created or deleted, or a role's
// privileged flag changing.
type PrivilegedChange struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Role   string    `json:"role"`
	UserID string    `json:"user_id,omitempty"`
	// External says whether the user was an external collaborator at the change's time.
	External bool            `json:"external,omitempty"`
	GroupID  string          `json:"group_id,omitempty"`
	Actor    scimtrail.Actor `json:"actor"`
	Cause    int64           `json:"cause,omitempty"`
}

// BreakGlassUse is one break-glass grant and the entries its user made while it lasted.
type BreakGlassUse struct {
	Seq           int64     `json:"seq"` // the break_glass.granted entry
	GrantID       string    `json:"grant_id"`
	UserID        string    `json:"user_id"`
	Role          string    `json:"role"`
	Justification string    `json:"justification"`
	From          time.Time `json:"from"`
	Until         time.Time `json:"until"` // the expiry, or the revocation if earlier
	Actions       []int64   `json:"actions"`
}

// PrivilegedReport is the privileged-change report of [From, To).
type PrivilegedReport struct {
	Report     string             `json:"report"` // "privileged-changes"
	Tenant     string             `json:"tenant"`
	From       time.Time          `json:"from"`
	To         time.Time          `json:"to"`
	Privileged []string           `json:"privileged_roles"`
	Changes    []PrivilegedChange `json:"changes"`
	BreakGlass []BreakGlassUse    `json:"break_glass"`
	Evidence   Evidence           `json:"evidence"`
}

// PrivilegedChanges reports every change touching a privileged role in [from, to) (zero
// to: now), and every break-glass use that started in it with the entries made under it.
// A role counts as privileged if it is now, or if the log shows it was marked so.
func (s *Service) PrivilegedChanges(ctx context.Context, tenant string, from, to time.Time) (PrivilegedReport, error) {
	if to.IsZero() {
		to = s.now().UTC().Add(time.Microsecond)
	}
	if !from.Before(to) {
		return PrivilegedReport{}, scimtrail.Errorf(scimtrail.EINVALID, "\"from\" must be before \"to\"")
	}
	rep := PrivilegedReport{Report: "privileged-changes", Tenant: tenant, From: from.UTC(), To: to.UTC(),
		Privileged: []string{}, Changes: []PrivilegedChange{}, BreakGlass: []BreakGlassUse{}}
	cp, err := s.reportCheckpoint(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var seqs []int64
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		priv, err := privilegedRoles(ctx, tx, tenant)
		if err != nil {
			return err
		}
		all := scimtrail.EntryFilter{}
		err = scanEntries(ctx, tx, tenant, cp.Size, scimtrail.EntryFilter{Action: "role."}, func(e loggedEntry) error {
			var p bool
			if e.change("privileged", false, &p) && p {
				priv[e.targetID()] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for r := range priv {
			rep.Privileged = append(rep.Privileged, r)
		}
		grants := map[string]*BreakGlassUse{}
		var uses []*BreakGlassUse
		all.Since, all.Until = from, to
		err = scanEntries(ctx, tx, tenant, cp.Size, all, func(e loggedEntry) error {
			c := PrivilegedChange{Seq: e.Seq, Time: e.Time, Action: e.Action, Actor: e.Actor, Cause: e.Cause}
			switch e.Action {
			case access.ActionGranted, access.ActionRevoked, access.ActionExpired:
				c.UserID, c.Role, _ = e.accessKey()
			case ActionRefused, ActionReviewDecided:
				c.UserID = e.targetID()
				e.change("role", false, &c.Role)
			case "grant.created", "break_glass.granted":
				e.change("role", false, &c.Role)
				e.change("user_id", false, &c.UserID)
				if e.Action == "break_glass.granted" {
					u := &BreakGlassUse{Seq: e.Seq, GrantID: e.targetID(), UserID: c.UserID, Role: c.Role, Justification: e.Reason,
						From: e.Time, Until: e.Time.Add(MaxBreakGlass), Actions: []int64{}}
					var exp string
					if e.change("expires", false, &exp) {
						if t, err := time.Parse(time.RFC3339Nano, exp); err == nil {
							u.Until = t
						}
					}
					grants[u.GrantID] = u
					uses = append(uses, u)
				}
			case "grant.revoked":
				if u := grants[e.targetID()]; u != nil && e.Time.Before(u.Until) {
					u.Until = e.Time
				}
				e.change("role", true, &c.Role)
				e.change("user_id", true, &c.UserID)
				if c.Role == "" {
					if g, err := tx.Grant(ctx, tenant, e.targetID()); err == nil {
						c.Role, c.UserID = g.Role, g.UserID
					}
				}
			case "break_glass.requested", "break_glass.approved", "break_glass.denied":
				// Who asked for emergency access and who approved or refused it.
				old := e.Action != "break_glass.requested"
				e.change("role", old, &c.Role)
				e.change("user_id", old, &c.UserID)
			case "mapping.created", "mapping.deleted":
				e.change("role", e.Action == "mapping.deleted", &c.Role)
				e.change("group_id", e.Action == "mapping.deleted", &c.GroupID)
			case "role.updated", "role.created", "role.retired":
				var p bool
				if !e.change("privileged", false, &p) && !(e.Action == "role.retired" && priv[e.targetID()]) {
					return nil
				}
				c.Role = e.targetID()
			default:
				return nil
			}
			if priv[c.Role] {
				if c.UserID != "" {
					x, err := externalNow(ctx, tx, tenant, c.UserID, c.Time) // external.go
					if err != nil {
						return err
					}
					c.External = x.External
				}
				rep.Changes = append(rep.Changes, c)
				seqs = append(seqs, c.Seq)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range uses {
			err := scanEntries(ctx, tx, tenant, cp.Size, scimtrail.EntryFilter{ActorID: u.UserID, Since: u.From, Until: u.Until}, func(e loggedEntry) error {
				if e.Seq != u.Seq {
					u.Actions = append(u.Actions, e.Seq)
				}
				return nil
			})
			if err != nil {
				return err
			}
			seqs = append(seqs, u.Seq)
			seqs = append(seqs, u.Actions...)
			rep.BreakGlass = append(rep.BreakGlass, *u)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Evidence, err = s.evidence(ctx, tenant, cp, seqs)
	return rep, err
}

// privilegedRoles is the set of roles, global and the tenant's own, marked privileged now.
func privilegedRoles(ctx context.Context, tx scimtrail.ReadTx, tenant string) (map[string]bool, error) {
	priv := map[string]bool{}
	for _, scope := range []string{"", tenant} {
		roles, err := tx.Roles(ctx, scope)
		if err != nil {
			return nil, err
		}
		for _, r := range roles {
			if r.Privileged {
				priv[r.ID] = true
			}
		}
	}
	return priv, nil
}
