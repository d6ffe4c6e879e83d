package scimtrail

import (
	"context"
	"time"
)

// This file is the storage contract of access reviews: an auditor or admin starts a review
// of a tenant's access as it was at an instant, and reviewers record a keep or revoke
// decision on each (user, role) it lists. The decisions are ledger entries too; these rows
// let the review report find them without scanning the log, and survive retention.

// Access review scopes.
const (
	ReviewAll        = "all"        // every role
	ReviewRole       = "role"       // one role
	ReviewPrivileged = "privileged" // the roles marked privileged when the review started
)

// Review decisions.
const (
	DecisionKeep   = "keep"
	DecisionRevoke = "revoke"
)

// AccessReview is a review of the access held at At, the time of its
// access.review_started entry. Roles fixes what it covers when it
// started (nil for scope all), so later catalogue changes do not change its items.
type AccessReview struct {
	Tenant    string    `json:"-"`
	ID        string    `json:"id"`
	Scope     string    `json:"scope"`
	Roles     []string  `json:"roles"`
	At        time.Time `json:"at"`
	Size      int64     `json:"ledger_size"` // the tenant's log size when it started: its items rest on entries up to it
	CreatedBy string    `json:"started_by"`
	Seq       int64     `json:"started_seq"` // its access.review_started entry
}

// ReviewDecision is the latest decision on one (user, role) of a review. RevokedGrants are
// the grants a revoke decision removed in the same transaction.
type ReviewDecision struct {
	Tenant        string    `json:"-"`
	ReviewID      string    `json:"-"`
	UserID        string    `json:"user_id"`
	Role          string    `json:"role"`
	Decision      string    `json:"decision"`
	Comment       string    `json:"comment"`
	By            string    `json:"decided_by"`
	At            time.Time `json:"decided_at"`
	Seq           int64     `json:"seq"` // its access.review_decided entry
	RevokedGrants []string  `json:"revoked_grants"`
}

// ReviewReadTx reads access reviews; ReadTx embeds it.
type ReviewReadTx interface {
	// AccessReview returns one review; ENOTFOUND when the tenant has none with that id.
	AccessReview(ctx context.Context, tenant, id string) (AccessReview, error)
	// AccessReviews lists the tenant's reviews, oldest first.
	AccessReviews(ctx context.Context, tenant string) ([]AccessReview, error)
	// ReviewDecisions lists a review's decisions ordered by user then role.
	ReviewDecisions(ctx context.Context, tenant, reviewID string) ([]ReviewDecision, error)
}

// ReviewTx writes access reviews; Tx embeds it.
type ReviewTx interface {
	// InsertAccessReview returns ECONFLICT when the id is taken.
	InsertAccessReview(ctx context.Context, r AccessReview) error
	// PutReviewDecision stores d, replacing an earlier decision on the same user and role.
	PutReviewDecision(ctx context.Context, d ReviewDecision) error
}
