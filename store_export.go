package scimtrail

import (
	"context"
	"encoding/json"
	"time"
)

// Sink states. A sink is active until its dispatcher gives up after the configured number of
// consecutive failures; it is then dead (dead-lettered) and delivers nothing until an
// operator or admin retries it, which makes it active again from its durable cursor.
const (
	SinkActive = "active"
	SinkDead   = "dead"
)

// Sink is an export destination as stored. Its cursor is not here: it lives in SinkCursor
// rows, one per tenant it exports, because a sink of the operator exports every tenant.
type Sink struct {
	ID     string
	Tenant string // "" for an operator's sink of all tenants
	Type   string // "webhook", …
	// Config holds the type's settings (url, format, …) as JSON, never a secret.
	Config json.RawMessage
	// Secret is the sink's secrets sealed with the install's sink key (AES-GCM), or nil.
	// The key lives outside the database, so a copy of the database alone reveals nothing.
	Secret    []byte
	FromSeq   int64 // the first seq to deliver in each tenant; 1 delivers everything
	State     string
	Failures  int    // consecutive failed deliveries
	LastError string // "" after a success
	Created   time.Time
	Updated   time.Time
}

// SinkCursor is a sink's durable position in one tenant's log: every entry with seq <=
// LastSeq has been acknowledged by the receiver, and so has every checkpoint record of a
// size <= Checkpoint. Checkpoint records are interleaved with entries (a checkpoint of
// size n right after entry n), so Checkpoint <= LastSeq always.
type SinkCursor struct {
	Sink       string
	Tenant     string
	LastSeq    int64
	Checkpoint int64
}

// ExportReadTx reads sinks and their cursors.
type ExportReadTx interface {
	// Sink finds a sink by id, in any tenant; ENOTFOUND when it does not exist.
	Sink(ctx context.Context, id string) (Sink, error)
	// Sinks lists the sinks of a tenant ("" lists the operator's all-tenant sinks), oldest first.
	Sinks(ctx context.Context, tenant string) ([]Sink, error)
	// AllSinks lists every sink of every tenant, oldest first; the dispatcher runs them.
	AllSinks(ctx context.Context) ([]Sink, error)
	// SinkCursors lists a sink's cursors, by tenant.
	SinkCursors(ctx context.Context, sink string) ([]SinkCursor, error)
	// CheckpointsBetween returns up to limit of the tenant's checkpoints with after < size
	// <= upTo, smallest first: the checkpoint records a sink has yet to deliver.
	CheckpointsBetween(ctx context.Context, tenant string, after, upTo int64, limit int) ([]StoredCheckpoint, error)
	// SinkLease returns who holds the sink's delivery lease and until when; ENOTFOUND when
	// no one ever took it (or it was released).
	SinkLease(ctx context.Context, sink string) (holder string, expires time.Time, err error)
}

// ExportTx writes sinks and their cursors.
type ExportTx interface {
	// InsertSink stores a new sink; ECONFLICT when the id is taken.
	InsertSink(ctx context.Context, s Sink) error
	// UpdateSink stores s's Config, Secret and Updated; ENOTFOUND when the sink is gone.
	UpdateSink(ctx context.Context, s Sink) error
	// SetSinkState stores s's State, Failures, LastError and Updated; ENOTFOUND when gone.
	SetSinkState(ctx context.Context, s Sink) error
	// DeleteSink deletes the sink and its cursors; ENOTFOUND when it does not exist.
	DeleteSink(ctx context.Context, id string) error
	// SetSinkCursor moves the cursor of (c.Sink, c.Tenant) to c.LastSeq and c.Checkpoint,
	// creating it when missing. A cursor never moves backwards: each of the two positions
	// only grows, so two dispatchers racing (two replicas) can only cause duplicates, never
	// a skip.
	SetSinkCursor(ctx context.Context, c SinkCursor) error
	// AcquireSinkLease takes or renews the sink's delivery lease for holder until ttl from
	// now, and reports whether holder has it: it does when no one holds it, when holder
	// already does, or when the other holder's lease has expired. now is the caller's
	// clock; PostgreSQL uses its own clock instead, so replicas with skewed clocks agree.
	AcquireSinkLease(ctx context.Context, sink, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseSinkLease gives the lease up if holder holds it, so that another replica takes
	// the sink over at once instead of after the lease expires.
	ReleaseSinkLease(ctx context.Context, sink, holder string) error
}
