package scimtrail

import (
	"context"
	"time"
)

// This file is the storage contract of external collaborators: the tenant's rule for who
// is external and its policies for them, the history of each user's external status (so a
// report tells who was external at its instant), and refused access: paths a tenant
// policy keeps from being effective, kept like access intervals so reports show why.

// ExternalPolicy is a tenant's rule and policies for external collaborators. A user is
// external when the IdP sent userType "guest" or "external", or, when Domains is set, when
// the domain of the user's primary email (else work email, else first email, else an
// email-shaped userName) is not one of Domains or beneath one. The zero value (with
// Tenant set) is the default: only userType decides, and no policy applies.
type ExternalPolicy struct {
	Tenant        string    `json:"-"`
	Domains       []string  `json:"domains"`
	BarPrivileged bool      `json:"bar_privileged"` // externals hold no privileged role
	GrantDays     int       `json:"grant_days"`     // >0: direct grants to externals expire after this many days
	Updated       time.Time `json:"updated,omitzero"`
}

// ExternalChange is a change of a user's external status at At, with why it holds then.
type ExternalChange struct {
	Tenant   string
	UserID   string
	At       time.Time
	External bool
	Reason   string
}

// AccessRefusal is a path by which a user would hold a role that a tenant policy keeps
// from being effective, from From until To (zero: still refused). Seq is its
// access.refused entry.
type AccessRefusal struct {
	Tenant string
	UserID string
	Role   string
	Path   AccessPath
	Reason string
	From   time.Time
	To     time.Time
	Seq    int64
}

// ExternalReadTx reads external policies, status history and refusals; ReadTx embeds it.
type ExternalReadTx interface {
	// ExternalPolicy returns the tenant's policy, the zero value (with Tenant set) when none.
	ExternalPolicy(ctx context.Context, tenant string) (ExternalPolicy, error)
	// ExternalAt returns, by user, the latest change at or before at of the users named
	// (nil: every user of the tenant with a change). Users with none are absent.
	ExternalAt(ctx context.Context, tenant string, userIDs []string, at time.Time) (map[string]ExternalChange, error)
	// OpenRefusals lists the refusals with no To of the users named (nil: every user).
	OpenRefusals(ctx context.Context, tenant string, userIDs []string) ([]AccessRefusal, error)
	// RefusalsAt lists the refusals in force at t, ordered by user, role, path.
	RefusalsAt(ctx context.Context, tenant string, at time.Time) ([]AccessRefusal, error)
}

// ExternalTx writes external policies, status history and refusals; Tx embeds it.
type ExternalTx interface {
	PutExternalPolicy(ctx context.Context, p ExternalPolicy) error
	// InsertExternalChanges records changes; a change at the same instant as an earlier
	// one of the same user replaces it.
	InsertExternalChanges(ctx context.Context, cs []ExternalChange) error
	// InsertRefusals stores new open refusals.
	InsertRefusals(ctx context.Context, rs []AccessRefusal) error
	// CloseRefusals sets To on the open refusal of each (tenant, user, role, path key).
	CloseRefusals(ctx context.Context, rs []AccessRefusal) error
}
