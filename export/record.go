// Package export delivers every tenant's ledger to configured sinks: one dispatcher goroutine
// per sink reads the ledger forward from the sink's durable cursor (DESIGN.md §2: the ledger
// is the outbox), delivers, and advances the cursor only after the receiver acknowledged.
// Delivery is at least once, in order per tenant, and never skips an entry. Formats and
// sinks live in subpackages: webhook (Standard Webhooks signing), ocsf, scimset.
package export

import (
	"encoding/json"
)

// Record is one delivered ledger entry with what a receiver needs to verify it: the entry
// bytes exactly as hashed, its leaf hash, and the tenant's latest signed checkpoint (null
// until checkpoints exist), against which an inclusion proof can be fetched.
type Record struct {
	Tenant     string          `json:"tenant"`
	Seq        int64           `json:"seq"`
	LeafHash   string          `json:"leaf_hash"` // hex
	Checkpoint json.RawMessage `json:"checkpoint"`
	Entry      json.RawMessage `json:"entry"`

	action string // the entry's action, for envelopes that name the event type
}
