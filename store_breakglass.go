package scimtrail

import (
	"context"
	"time"
)

// Break-glass approval policies (TenantSettings.BreakGlassApproval).
const (
	// BreakGlassApprovalNone grants break-glass access as soon as an admin asks.
	BreakGlassApprovalNone = "none"
	// BreakGlassApprovalSecondAdmin keeps a request pending until an admin other than the
	// requester approves it, so no one admin can give emergency access alone.
	BreakGlassApprovalSecondAdmin = "second_admin"
)

// Break-glass request states.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestDenied   = "denied"
)

// BreakGlassRequest is a request for break-glass access waiting for, or decided by, a second
// admin. Duration counts from approval, not from the request, so a request approved late
// still gives the time asked for.
type BreakGlassRequest struct {
	Tenant        string
	ID            string
	UserID        string
	Role          string
	Justification string
	Duration      time.Duration
	RequestedBy   string // the requester's actor id (a token id)
	Requested     time.Time
	State         string // RequestPending, RequestApproved or RequestDenied
	DecidedBy     string // the approver's or denier's actor id; "" while pending
	Decided       time.Time
	Decision      string // the reason the decider gave, if any
	GrantID       string // the grant an approval made
}

// BreakGlassReadTx reads break-glass requests.
type BreakGlassReadTx interface {
	// BreakGlassRequest finds one request of the tenant, or ENOTFOUND.
	BreakGlassRequest(ctx context.Context, tenant, id string) (BreakGlassRequest, error)
	// BreakGlassRequests lists the tenant's requests, newest first, at most limit of them.
	BreakGlassRequests(ctx context.Context, tenant string, limit int) ([]BreakGlassRequest, error)
}

// BreakGlassTx writes break-glass requests.
type BreakGlassTx interface {
	InsertBreakGlassRequest(ctx context.Context, r BreakGlassRequest) error
	// UpdateBreakGlassRequest stores r's State, DecidedBy, Decided, Decision and GrantID.
	// Returns ENOTFOUND when the request does not exist.
	UpdateBreakGlassRequest(ctx context.Context, r BreakGlassRequest) error
}
