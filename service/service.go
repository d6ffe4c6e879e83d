// Package service is scimtrail's one write path (DESIGN.md §2): every change — a SCIM
// request, an admin API call, a token's lifecycle — is checked, computed with the pure scim
// packages, written, and appended to the tenant's ledger inside a single Store.Update, so
// state and log never drift. Handlers parse, call one method here, and render.
package service

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/scim/dialect"
)

// Service implements scimtrail's use cases over a Store.
type Service struct {
	store scimtrail.Store
	now   func() time.Time
	// configs caches tenants' settings and resource types (settings.go).
	configs configCache
	// maxSort caps queries sorted in memory (sort.go).
	maxSort int
	// sinkOpts and commits serve export sinks (sinks.go).
	sinkOpts SinkOptions
	commits  *commitSignal
	events   schemaCache // compiled app event schemas (events_schema.go)
	ledger   ledgerState // ledger.go: signing keys, install id, audit-read throttle
	// cursorKey authenticates pagination cursors (cursor.go).
	cursorKey []byte
	// tenants holds the ids of tenants seen to exist in a committed state. Tenants are never
	// deleted, so once known a tenant needs no read inside the writer again (resources.go).
	tenants sync.Map
}

// Options configure a Service; zero values are sane defaults.
type Options struct {
	// Now is the clock; time.Now when nil. Tests pass a fixed clock.
	Now func() time.Time
	// Keys sign checkpoints; nil means this Service signs none (a CLI that only writes).
	Keys *ledger.KeyRing
	// Sinks configure export sinks (sinks.go).
	Sinks SinkOptions
	// CursorKey authenticates the pagination cursors the service hands out. Replicas
	// behind one load balancer need the same key for a cursor from one to work on
	// another; nil draws a random key, valid for this process only.
	CursorKey []byte
	// MaxSortMatches caps queries sorted in memory (sort.go); 0 means MaxSortMatches.
	MaxSortMatches int
}

// New returns a Service over store.
func New(store scimtrail.Store, opts Options) *Service {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	key := opts.CursorKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	maxSort := opts.MaxSortMatches
	if maxSort <= 0 {
		maxSort = MaxSortMatches
	}
	commits := newCommitSignal()
	return &Service{store: notifyingStore{store, commits}, now: now, cursorKey: key, maxSort: maxSort,
		sinkOpts: opts.Sinks, commits: commits, ledger: ledgerState{keys: opts.Keys}}
}

// Origin says who is making a change and through which channel; it becomes the ledger
// entry's actor and channel. Handlers build it from the authenticated token and the request.
type Origin struct {
	Actor   scimtrail.Actor
	Channel string
	// Dialect is the IdP dialect the request is read in; "" reads it as Auto.
	Dialect dialect.Dialect
	// Received is when the request arrived (zero when unknown); deprovisioning entries record
	// it as requested_at, for the deprovisioning-latency report (reports.go).
	Received time.Time
}
