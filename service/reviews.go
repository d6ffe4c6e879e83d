package service

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
)

// Access reviews (access issue, item 8): a review fixes an instant and a scope; its items
// are the (user, role) pairs held then, read from the interval table like the access
// report; reviewers record a keep or revoke decision on each, as ledger entries. A revoke
// decision may also revoke the user's direct grants of the role, through the same write
// path as DELETE …/grants/{id}, in the decision's own transaction.

// Ledger actions of access reviews.
const (
	ActionReviewStarted = "access.review_started"
	ActionReviewDecided = "access.review_decided"
)

// ReviewInput starts a review: scope "all", "privileged", or "role" with Role.
type ReviewInput struct {
	Scope string `json:"scope"`
	Role  string `json:"role"`
}

// DecisionInput is a reviewer's decision on one (user, role) of a review. RevokeGrants, on
// a revoke decision, also revokes the user's direct grants of the role.
type DecisionInput struct {
	UserID       string `json:"user_id"`
	Role         string `json:"role"`
	Decision     string `json:"decision"`
	Comment      string `json:"comment"`
	RevokeGrants bool   `json:"revoke_grants"`
}

func reviewTarget(id string) *scimtrail.Target {
	return &scimtrail.Target{Type: "AccessReview", ID: id}
}

// StartReview starts an access review of the tenant's access now. Returns EINVALID for a
// bad scope or an unknown role, ENOTFOUND for the tenant.
func (s *Service) StartReview(ctx context.Context, o Origin, tenant string, in ReviewInput) (scimtrail.AccessReview, scimtrail.Receipt, error) {
	rv := scimtrail.AccessReview{Tenant: tenant, ID: newID(), Scope: in.Scope, CreatedBy: o.Actor.ID}
	switch in.Scope {
	case scimtrail.ReviewAll, scimtrail.ReviewPrivileged:
		if in.Role != "" {
			return rv, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"role\" goes only with scope \"role\"")
		}
	case scimtrail.ReviewRole:
		if in.Role == "" {
			return rv, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "scope \"role\" needs a \"role\"")
		}
	default:
		return rv, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"scope\" must be \"all\", \"role\" or \"privileged\", not %q", in.Scope)
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		rv.At, rv.Size = s.stamp(), head.Size
		switch in.Scope {
		case scimtrail.ReviewRole:
			if _, err := tx.Role(ctx, tenant, in.Role); isNotFound(err) {
				if _, err := tx.Role(ctx, "", in.Role); isNotFound(err) {
					return scimtrail.Errorf(scimtrail.EINVALID, "role %q does not exist in tenant %s or the global catalogue", in.Role, tenant)
				} else if err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			rv.Roles = []string{in.Role}
		case scimtrail.ReviewPrivileged:
			priv, err := privilegedRoles(ctx, tx, tenant) // reports_privileged.go
			if err != nil {
				return err
			}
			rv.Roles = slices.Sorted(maps.Keys(priv))
		}
		rc, err = appendEntries(ctx, tx, tenant, o, rv.At, scimtrail.Entry{Action: ActionReviewStarted, Target: reviewTarget(rv.ID),
			Changes: []scimtrail.Change{{Path: "scope", New: rv.Scope}, {Path: "roles", New: rv.Roles},
				{Path: "ledger_size", New: rv.Size}}})
		if err != nil {
			return err
		}
		rv.Seq = rc.Seq
		return tx.InsertAccessReview(ctx, rv)
	})
	return rv, rc, err
}

// AccessReviews lists the tenant's reviews, oldest first.
func (s *Service) AccessReviews(ctx context.Context, tenant string) ([]scimtrail.AccessReview, error) {
	out := []scimtrail.AccessReview{}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		rs, err := tx.AccessReviews(ctx, tenant)
		out = append(out, rs...)
		return err
	})
	return out, err
}

// reviewItems returns the intervals a review covers: those held at its instant, of its roles.
func reviewItems(ctx context.Context, tx scimtrail.ReadTx, rv scimtrail.AccessReview, userID, role string) ([]scimtrail.AccessInterval, error) {
	ivs, err := tx.AccessAt(ctx, rv.Tenant, rv.At, userID, role)
	if err != nil || rv.Roles == nil {
		return ivs, err
	}
	return slices.DeleteFunc(ivs, func(iv scimtrail.AccessInterval) bool { return !slices.Contains(rv.Roles, iv.Role) }), nil
}

// DecideReview records a reviewer's decision on one (user, role) of a review, replacing an
// earlier one. A revoke decision with RevokeGrants also revokes the user's direct grants of
// the role in force now, each with a grant.revoked entry caused by the decision. Returns
// ENOTFOUND for the review, EINVALID for a bad decision, a pair the review does not list,
// or RevokeGrants when no direct grant of the role is in force.
func (s *Service) DecideReview(ctx context.Context, o Origin, tenant, reviewID string, in DecisionInput) (scimtrail.ReviewDecision, scimtrail.Receipt, error) {
	d := scimtrail.ReviewDecision{Tenant: tenant, ReviewID: reviewID, UserID: in.UserID, Role: in.Role, Decision: in.Decision,
		Comment: in.Comment, By: o.Actor.ID, RevokedGrants: []string{}}
	switch {
	case in.Decision != scimtrail.DecisionKeep && in.Decision != scimtrail.DecisionRevoke:
		return d, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"decision\" must be \"keep\" or \"revoke\", not %q", in.Decision)
	case in.RevokeGrants && in.Decision != scimtrail.DecisionRevoke:
		return d, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "\"revoke_grants\" goes only with decision \"revoke\"")
	case in.UserID == "" || in.Role == "":
		return d, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "a decision needs a \"user_id\" and a \"role\"")
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		rv, err := tx.AccessReview(ctx, tenant, reviewID)
		if err != nil {
			return err
		}
		items, err := reviewItems(ctx, tx, rv, in.UserID, in.Role)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return scimtrail.Errorf(scimtrail.EINVALID, "access review %s does not list user %q with role %q: the user did not hold it at %s",
				reviewID, in.UserID, in.Role, rv.At.Format(time.RFC3339Nano))
		}
		d.At = s.stamp()
		entries := []scimtrail.Entry{{Action: ActionReviewDecided,
			Target: &scimtrail.Target{Type: string(scimtrail.UserResource), ID: in.UserID},
			Changes: []scimtrail.Change{{Path: "review_id", New: reviewID}, {Path: "role", New: in.Role},
				{Path: "decision", New: in.Decision}, {Path: "comment", New: in.Comment}}}}
		if in.RevokeGrants {
			revoked, err := s.revokeDirectGrants(ctx, tx, tenant, in.UserID, in.Role, d.At, "access review "+reviewID+": revoke decision")
			if err != nil {
				return err
			}
			for _, e := range revoked {
				if e.Action == "grant.revoked" {
					d.RevokedGrants = append(d.RevokedGrants, e.Target.ID)
				}
			}
			entries[0].Changes = append(entries[0].Changes, scimtrail.Change{Path: "revoked_grants", New: d.RevokedGrants})
			entries = append(entries, revoked...)
		}
		rc, err = appendEntries(ctx, tx, tenant, o, d.At, entries...)
		if err != nil {
			return err
		}
		d.Seq = rc.Seq - int64(len(entries)) + 1
		return tx.PutReviewDecision(ctx, d)
	})
	return d, rc, err
}

// revokeDirectGrants revokes the user's direct grants of role in force and recomputes the
// user's access, returning the grant.revoked entries then the derived ones, all caused by
// the first entry of the append they join.
func (s *Service) revokeDirectGrants(ctx context.Context, tx scimtrail.Tx, tenant, userID, role string, at time.Time, reason string) ([]scimtrail.Entry, error) {
	grants, err := tx.Grants(ctx, tenant, []string{userID})
	if err != nil {
		return nil, err
	}
	var entries []scimtrail.Entry
	for _, g := range grants {
		if g.Role != role || g.Kind != scimtrail.GrantDirect || !g.Revoked.IsZero() {
			continue
		}
		g.Revoked = at
		if err := tx.UpdateGrant(ctx, g); err != nil {
			return nil, err
		}
		entries = append(entries, scimtrail.Entry{Action: "grant.revoked", Target: grantTarget(g), Cause: causeFirst, Reason: reason,
			Changes: []scimtrail.Change{{Path: "user_id", Old: g.UserID}, {Path: "role", Old: g.Role}}})
	}
	if len(entries) == 0 {
		return nil, scimtrail.Errorf(scimtrail.EINVALID,
			"user %q holds role %q through no direct grant that scimtrail could revoke: change the group membership or the roles at the IdP", userID, role)
	}
	st, err := loadAccessState(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	derived, err := s.recomputeAccess(ctx, tx, tenant, at, st, []string{userID})
	return append(entries, derived...), err
}

// ReviewItem is one (user, role) of an access review, with the paths that granted it at
// the review's instant and the latest decision on it (null while pending).
type ReviewItem struct {
	UserID   string                    `json:"user_id"`
	UserName string                    `json:"user_name,omitempty"`
	External bool                      `json:"external"`
	Role     string                    `json:"role"`
	Since    time.Time                 `json:"since"`
	Paths    []ReportPath              `json:"paths"`
	Decision *scimtrail.ReviewDecision `json:"decision"`
}

// ReviewSummary counts a review's items by decision.
type ReviewSummary struct {
	Items   int `json:"items"`
	Kept    int `json:"kept"`
	Revoked int `json:"revoked"`
	Pending int `json:"pending"`
}

// ReviewReport is an access review export: its items with their decisions, and evidence
// citing each path's access.granted, the review's start and each decision, proved against
// the latest checkpoint.
type ReviewReport struct {
	Report   string                 `json:"report"` // "access_review"
	Tenant   string                 `json:"tenant"`
	At       time.Time              `json:"at"` // the review's instant
	Review   scimtrail.AccessReview `json:"review"`
	Summary  ReviewSummary          `json:"summary"`
	Items    []ReviewItem           `json:"items"`
	Evidence Evidence               `json:"evidence"`
}

// ReviewReport exports a review. Returns ENOTFOUND for the tenant or the review.
func (s *Service) ReviewReport(ctx context.Context, tenant, reviewID string) (ReviewReport, error) {
	rep := ReviewReport{Report: "access_review", Tenant: tenant, Items: []ReviewItem{}}
	cp, err := s.reportCheckpoint(ctx, tenant)
	if err != nil {
		return rep, err
	}
	var seqs []int64
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		rv, err := tx.AccessReview(ctx, tenant, reviewID)
		if err != nil {
			return err
		}
		rep.Review, rep.At = rv, rv.At
		seqs = append(seqs, rv.Seq)
		ivs, err := reviewItems(ctx, tx, rv, "", "")
		if err != nil {
			return err
		}
		decisions, err := tx.ReviewDecisions(ctx, tenant, reviewID)
		if err != nil {
			return err
		}
		decided := map[string]*scimtrail.ReviewDecision{}
		for i, d := range decisions {
			decided[d.UserID+"|"+d.Role] = &decisions[i]
			seqs = append(seqs, d.Seq)
		}
		paths, err := reportPaths(ctx, tx, tenant, cp.Size, rv.At, ivs)
		if err != nil {
			return err
		}
		info, err := reportUsers(ctx, tx, tenant, rv.At)
		if err != nil {
			return err
		}
		for _, u := range access.Summarize(ivs) {
			name, external, _, err := info(u.UserID)
			if err != nil {
				return err
			}
			for _, ra := range u.Access {
				it := ReviewItem{UserID: u.UserID, UserName: name, External: external, Role: ra.Role, Since: ra.Since,
					Paths: paths(u.UserID, ra), Decision: decided[u.UserID+"|"+ra.Role]}
				for _, p := range it.Paths {
					seqs = append(seqs, p.Seq)
				}
				switch {
				case it.Decision == nil:
					rep.Summary.Pending++
				case it.Decision.Decision == scimtrail.DecisionKeep:
					rep.Summary.Kept++
				default:
					rep.Summary.Revoked++
				}
				rep.Items = append(rep.Items, it)
			}
		}
		rep.Summary.Items = len(rep.Items)
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Evidence, err = s.evidence(ctx, tenant, cp, seqs)
	return rep, err
}
