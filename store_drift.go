package scimtrail

import "context"

// This file is the storage contract of the vendor's app's own view of its users and roles
// (PUT /api/v1/tenants/{t}/app-state), which the drift report compares with effective
// access. The app sends it in pages of one snapshot; the last page makes that snapshot
// current and drops the one before.

// AppStateHead says which snapshot is current and which is being received.
type AppStateHead struct {
	Tenant  string
	Current string // "" until a snapshot was completed
	Pending string // the snapshot whose pages are arriving; "" none
	Pages   int    // pages of Pending received so far
}

// AppStateRow is one role the app says a user has.
type AppStateRow struct {
	UserID string
	Role   string
}

// DriftReadTx reads app state; ReadTx embeds it.
type DriftReadTx interface {
	// AppStateHead returns the tenant's head; the zero value (with Tenant set) when none.
	AppStateHead(ctx context.Context, tenant string) (AppStateHead, error)
	// AppStateRows lists the rows of one snapshot, ordered by user then role.
	AppStateRows(ctx context.Context, tenant, snapshot string) ([]AppStateRow, error)
}

// DriftTx writes app state; Tx embeds it.
type DriftTx interface {
	PutAppStateHead(ctx context.Context, h AppStateHead) error
	// InsertAppStateRows adds rows to a snapshot; rows already in it are left as they are.
	InsertAppStateRows(ctx context.Context, tenant, snapshot string, rows []AppStateRow) error
	// DeleteAppStateRows deletes the rows of every snapshot of the tenant except keep.
	DeleteAppStateRows(ctx context.Context, tenant string, keep []string) error
}
