package service

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
)

// MaxBreakGlass is the longest a break-glass grant may last.
const MaxBreakGlass = 8 * time.Hour

// BreakGlassOutcome is what a break-glass request led to: a grant at once, or, under the
// tenant's second_admin policy, a request waiting for another admin.
type BreakGlassOutcome struct {
	Grant   *scimtrail.Grant
	Request *scimtrail.BreakGlassRequest
}

// BreakGlass gives a role to one user for at most MaxBreakGlass, with a mandatory
// justification. Its entries carry actor type break_glass. The access ends at the expiry
// instant: reads compare with the clock, and ExpireAccess records access.expired later.
//
// Under the tenant's break_glass_approval policy second_admin it grants nothing yet: it
// records a pending request (break_glass.requested) for another admin to approve with
// DecideBreakGlass. Returns EINVALID (no justification, a duration out of range, no such
// active user or live role), ENOTFOUND for the tenant.
func (s *Service) BreakGlass(ctx context.Context, o Origin, tenant, userID, role, justification string, d time.Duration) (BreakGlassOutcome, scimtrail.Receipt, error) {
	var out BreakGlassOutcome
	var rc scimtrail.Receipt
	if justification == "" {
		return out, rc, scimtrail.Errorf(scimtrail.EINVALID, "break-glass needs a \"justification\"")
	}
	if d <= 0 || d > MaxBreakGlass {
		return out, rc, scimtrail.Errorf(scimtrail.EINVALID, "break-glass \"duration\" must be positive and at most %s", MaxBreakGlass)
	}
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		st, err := tx.TenantSettings(ctx, tenant)
		if err != nil {
			return err
		}
		at := s.stamp()
		if withDefaults(st).BreakGlassApproval != scimtrail.BreakGlassApprovalSecondAdmin {
			g := scimtrail.Grant{Tenant: tenant, ID: newID(), UserID: userID, Role: role, Kind: scimtrail.GrantBreakGlass, Reason: justification, By: o.Actor.ID}
			entries, err := s.grantEntries(ctx, tx, &g, "break_glass.granted", d, at)
			if err != nil {
				return err
			}
			bg := o
			bg.Actor.Type = scimtrail.ActorBreakGlass
			out.Grant = &g
			rc, err = appendEntries(ctx, tx, tenant, bg, at, entries...)
			return err
		}
		// Refuse now what no approval could grant, so nobody approves a dead request.
		r, err := checkGrantable(ctx, tx, tenant, userID, role)
		if err != nil {
			return err
		}
		if err := checkExternalGrant(ctx, tx, &scimtrail.Grant{Tenant: tenant, UserID: userID, Role: role, Kind: scimtrail.GrantBreakGlass}, r, at); err != nil { // external.go
			return err
		}
		req := scimtrail.BreakGlassRequest{Tenant: tenant, ID: newID(), UserID: userID, Role: role, Justification: justification,
			Duration: d.Truncate(time.Second), RequestedBy: o.Actor.ID, Requested: at, State: scimtrail.RequestPending}
		if err := tx.InsertBreakGlassRequest(ctx, req); err != nil {
			return err
		}
		out.Request = &req
		rc, err = appendEntries(ctx, tx, tenant, o, at, scimtrail.Entry{Action: "break_glass.requested", Target: requestTarget(req),
			Reason: justification, Changes: []scimtrail.Change{{Path: "user_id", New: userID}, {Path: "role", New: role},
				{Path: "duration", New: req.Duration.String()}, {Path: "state", New: scimtrail.RequestPending}}})
		return err
	})
	return out, rc, err
}

func requestTarget(r scimtrail.BreakGlassRequest) *scimtrail.Target {
	return &scimtrail.Target{Type: "BreakGlassRequest", ID: r.ID}
}

// DecideBreakGlass approves or denies a pending break-glass request. An approval grants the
// role for the requested duration counted from now, with entries break_glass.approved and
// break_glass.granted (actor type break_glass, actor id the approver) and the access they
// cause; a denial writes break_glass.denied. The requester may withdraw (deny) their own
// request but never approve it. Returns ENOTFOUND, EFORBIDDEN when the requester approves,
// ECONFLICT when the request was already decided, EINVALID when the user or role can no
// longer be granted (the request then stays pending, to be denied).
func (s *Service) DecideBreakGlass(ctx context.Context, o Origin, tenant, id string, approve bool, reason string) (scimtrail.BreakGlassRequest, scimtrail.Receipt, error) {
	var req scimtrail.BreakGlassRequest
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		if req, err = tx.BreakGlassRequest(ctx, tenant, id); err != nil {
			return err
		}
		if req.State != scimtrail.RequestPending {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "break-glass request %q was already %s", id, req.State)
		}
		if approve && o.Actor.ID == req.RequestedBy {
			return scimtrail.Errorf(scimtrail.EFORBIDDEN, "break-glass request %q needs a second admin: the admin who asked for it cannot approve it", id)
		}
		at := s.stamp()
		req.DecidedBy, req.Decided, req.Decision = o.Actor.ID, at, reason
		decision := scimtrail.Entry{Target: requestTarget(req), Reason: reason,
			Changes: []scimtrail.Change{{Path: "requested_by", Old: req.RequestedBy}, {Path: "user_id", Old: req.UserID}, {Path: "role", Old: req.Role}}}
		var entries []scimtrail.Entry
		if approve {
			g := scimtrail.Grant{Tenant: tenant, ID: newID(), UserID: req.UserID, Role: req.Role, Kind: scimtrail.GrantBreakGlass, Reason: req.Justification, By: o.Actor.ID}
			granted, err := s.grantEntries(ctx, tx, &g, "break_glass.granted", req.Duration, at)
			if err != nil {
				return err
			}
			req.State, req.GrantID = scimtrail.RequestApproved, g.ID
			decision.Action = "break_glass.approved"
			decision.Changes = append(decision.Changes, scimtrail.Change{Path: "state", Old: scimtrail.RequestPending, New: req.State},
				scimtrail.Change{Path: "grant_id", New: g.ID})
			entries = append([]scimtrail.Entry{decision}, granted...)
			o.Actor.Type = scimtrail.ActorBreakGlass
		} else {
			req.State = scimtrail.RequestDenied
			decision.Action = "break_glass.denied"
			decision.Changes = append(decision.Changes, scimtrail.Change{Path: "state", Old: scimtrail.RequestPending, New: req.State})
			entries = []scimtrail.Entry{decision}
		}
		if err := tx.UpdateBreakGlassRequest(ctx, req); err != nil {
			return err
		}
		rc, err = appendEntries(ctx, tx, tenant, o, at, entries...)
		return err
	})
	return req, rc, err
}

// BreakGlassRequests lists the tenant's break-glass requests, newest first, at most limit
// (≤ 0 or above MaxResults: MaxResults). Returns ENOTFOUND for the tenant.
func (s *Service) BreakGlassRequests(ctx context.Context, tenant string, limit int) ([]scimtrail.BreakGlassRequest, error) {
	if limit <= 0 || limit > MaxResults {
		limit = MaxResults
	}
	var out []scimtrail.BreakGlassRequest
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		out, err = tx.BreakGlassRequests(ctx, tenant, limit)
		return err
	})
	return out, err
}

// BreakGlassRequest returns one of the tenant's break-glass requests. Returns ENOTFOUND.
func (s *Service) BreakGlassRequest(ctx context.Context, tenant, id string) (scimtrail.BreakGlassRequest, error) {
	var out scimtrail.BreakGlassRequest
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		out, err = tx.BreakGlassRequest(ctx, tenant, id)
		return err
	})
	return out, err
}
