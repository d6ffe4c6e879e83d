package scimtrail

import (
	"context"
	"encoding/json"
	"time"
)

// This file is the storage contract of app events (POST /api/v1/tenants/{t}/events): the
// state that ingestion keeps beside the ledger entries it appends. The entries themselves go
// through Tx.AppendEntries like every other change.

// Unknown-action policies: what happens to an app event whose action has no registered
// schema, neither the tenant's nor a global one.
const (
	UnknownActionsAccept = "accept" // the default: record it, validated only by the built-in rules
	UnknownActionsReject = "reject"
)

// EventSettings are a tenant's app-event settings. A tenant that never set them has the
// zero value, which behaves as UnknownActions "accept".
type EventSettings struct {
	Tenant         string    `json:"tenant"`
	UnknownActions string    `json:"unknown_actions"`
	Updated        time.Time `json:"updated,omitzero"`
}

// EventSchema is one version of the JSON Schemas registered for an app event action.
// Tenant is "" for a global schema, which applies to every tenant that has none of its own
// for the action. Versions count from 1 per (tenant, action) and are never reused or
// deleted: a new registration makes a new version.
type EventSchema struct {
	Tenant   string          `json:"tenant,omitempty"`
	Action   string          `json:"action"`
	Version  int             `json:"version"`
	Metadata json.RawMessage `json:"metadata_schema,omitempty"` // JSON Schema for "metadata"; nil: any
	Targets  json.RawMessage `json:"targets_schema,omitempty"`  // JSON Schema for "targets"; nil: any
	Created  time.Time       `json:"created"`
	Seq      int64           `json:"seq"` // the ledger entry that recorded the registration
}

// EventKey remembers an idempotency key: the SHA-256 of the key (never the key itself), the
// SHA-256 of the request it answered, and the seqs that request's events received.
type EventKey struct {
	Tenant      string
	KeyHash     []byte
	RequestHash []byte
	Seqs        []int64
	Created     time.Time
}

// AppRoleGrant is a role the vendor's app says it granted to a user itself (an
// app.role_granted event), until an app.role_revoked event removes it. History lives in the
// ledger; this is the current state, for the access model to read.
type AppRoleGrant struct {
	Tenant  string    `json:"tenant"`
	UserID  string    `json:"user_id"`
	Role    string    `json:"role"`
	Granted time.Time `json:"granted"`
	Seq     int64     `json:"seq"`          // the app.role_granted entry
	By      string    `json:"by,omitempty"` // who in the app granted it (the event's actor.id)
}

// EventReadTx reads app-event state; ReadTx embeds it.
type EventReadTx interface {
	// EventSettings returns the tenant's settings; the zero value (with Tenant set) when
	// none were ever stored.
	EventSettings(ctx context.Context, tenant string) (EventSettings, error)
	// EventSchema returns version of the (tenant, action) schema, the latest when version
	// is 0. tenant "" is the global schema. Returns ENOTFOUND when there is none.
	EventSchema(ctx context.Context, tenant, action string, version int) (EventSchema, error)
	// EventSchemas lists the latest version of each of the tenant's ("" global) actions,
	// ordered by action.
	EventSchemas(ctx context.Context, tenant string) ([]EventSchema, error)
	// EventKeys returns the stored keys of tenant among keyHashes created at or after since,
	// in no particular order; keys not stored (or older) are left out.
	EventKeys(ctx context.Context, tenant string, keyHashes [][]byte, since time.Time) ([]EventKey, error)
	// AppRoleGrants lists the tenant's current app role grants, of one user when userID is
	// not "", ordered by user id then role.
	AppRoleGrants(ctx context.Context, tenant, userID string) ([]AppRoleGrant, error)
}

// EventTx writes app-event state; Tx embeds it.
type EventTx interface {
	// PutEventSettings stores s, replacing the tenant's settings.
	PutEventSettings(ctx context.Context, s EventSettings) error
	// InsertEventSchema stores a new version. Returns ECONFLICT when (tenant, action,
	// version) is taken.
	InsertEventSchema(ctx context.Context, s EventSchema) error
	// InsertEventKeys stores keys. Returns ECONFLICT when one of them is stored already, so
	// that two racing requests with one key can never both record their events.
	InsertEventKeys(ctx context.Context, keys []EventKey) error
	// DeleteEventKeys deletes the tenant's keys created before before ("" tenant: every
	// tenant's) and returns how many it deleted.
	DeleteEventKeys(ctx context.Context, tenant string, before time.Time) (int64, error)
	// GrantAppRole records g unless (tenant, user, role) is granted already, in which case
	// it changes nothing and returns false.
	GrantAppRole(ctx context.Context, g AppRoleGrant) (bool, error)
	// RevokeAppRole removes the grant and reports whether there was one.
	RevokeAppRole(ctx context.Context, tenant, userID, role string) (bool, error)
}
