// Package export delivers every tenant's ledger to configured sinks: one dispatcher goroutine
// per sink reads the ledger forward from the sink's durable cursor (DESIGN.md §2: the ledger
// is the outbox), delivers, and advances the cursor only after the receiver acknowledged.
// Delivery is at least once, in order per tenant, and never skips an entry. Formats and
// sinks live in subpackages: webhook (Standard Webhooks signing), ocsf, scimset.
package export

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export/ocsf"
	"github.com/scimtrail/scimtrail/service"
)

// RecordCheckpoint is the type of a checkpoint record; entry records have no type.
const RecordCheckpoint = "checkpoint"

// Record is one delivered ledger entry with what a receiver needs to verify it: the entry
// bytes exactly as hashed, its leaf hash, and the tenant's latest signed checkpoint (null
// until checkpoints exist), against which an inclusion proof can be fetched.
//
// A checkpoint record (Type "checkpoint") instead carries one checkpoint the checkpointer
// signed, in Checkpoint, and no seq, leaf hash or entry. It follows the entry whose seq is
// its size (or, when signed after that entry was delivered, the next delivery), so it never
// arrives before an entry it covers: customers keep every signed root outside our reach.
type Record struct {
	Tenant     string          `json:"tenant"`
	Type       string          `json:"type,omitempty"`
	Seq        int64           `json:"seq,omitempty"`
	LeafHash   string          `json:"leaf_hash,omitempty"` // hex
	Checkpoint json.RawMessage `json:"checkpoint"`
	Entry      json.RawMessage `json:"entry,omitempty"`

	action string // the entry's action, for envelopes that name the event type
	cp     scimtrail.StoredCheckpoint
	at     time.Time // a checkpoint record's time: when it was signed
}

// checkpointRecord is the record of a signed checkpoint. Its time is when it was signed, or
// now for a checkpoint stored before signing times were kept.
func checkpointRecord(cp scimtrail.StoredCheckpoint, now time.Time) Record {
	at := now
	if !cp.Signed.IsZero() {
		at = cp.Signed
	}
	// Marshalling a struct of an int, bytes and a string cannot fail.
	cpJSON, _ := service.CheckpointJSON(cp)
	return Record{Tenant: cp.Tenant, Type: RecordCheckpoint, Checkpoint: cpJSON,
		action: RecordCheckpoint, cp: cp, at: at.UTC()}
}

// IsCheckpoint reports whether r is a checkpoint record.
func (r Record) IsCheckpoint() bool { return r.Type == RecordCheckpoint }

// Size is a checkpoint record's tree size (0 for an entry).
func (r Record) Size() int64 { return r.cp.Size }

// MessageID is the webhook-id of a record: stable across retries, so that receivers can
// drop duplicates, which at-least-once delivery can produce.
func MessageID(r Record) string {
	if r.IsCheckpoint() {
		return fmt.Sprintf("cp_%s_%d", r.Tenant, r.cp.Size)
	}
	return fmt.Sprintf("evt_%s_%d", r.Tenant, r.Seq)
}

// Time is the record's time: the entry's, or when the checkpoint was signed.
func (r Record) Time() time.Time {
	if r.IsCheckpoint() {
		return r.at
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	json.Unmarshal(r.Entry, &e)
	return e.Time
}

// timestampOf is the record's time as RFC 3339, for message envelopes: an entry's exactly
// as it is written in the entry.
func timestampOf(r Record) string {
	if r.IsCheckpoint() {
		return r.at.Format(time.RFC3339Nano)
	}
	var e struct {
		Time string `json:"time"`
	}
	json.Unmarshal(r.Entry, &e)
	return e.Time
}

// OCSFEvent is the OCSF event of a record: the entry's event, or Event Log Activity for a
// checkpoint record (docs/ocsf.md).
func OCSFEvent(r Record) (map[string]any, error) {
	if r.IsCheckpoint() {
		return ocsf.CheckpointEvent(r.Tenant, r.cp.Size, r.cp.Root, string(r.cp.Note), r.at), nil
	}
	return ocsf.Event(r.Entry, r.LeafHash)
}

// ocsfRecord is the OCSF form of a record as webhooks, HEC and Kafka deliver it: the event
// with what verification needs alongside.
func ocsfRecord(r Record) (map[string]any, error) {
	ev, err := OCSFEvent(r)
	if err != nil {
		return nil, err
	}
	if r.IsCheckpoint() {
		return map[string]any{"tenant": r.Tenant, "type": r.Type, "checkpoint": r.Checkpoint, "ocsf": ev}, nil
	}
	return map[string]any{"tenant": r.Tenant, "seq": r.Seq, "leaf_hash": r.LeafHash, "checkpoint": r.Checkpoint, "ocsf": ev}, nil
}

// rootHex is a checkpoint record's root hash in hex.
func (r Record) rootHex() string { return hex.EncodeToString(r.cp.Root) }

// describe names records in an error message: "seqs 3–9 and checkpoint 9 of acme".
func describe(recs []Record) string {
	if len(recs) == 0 {
		return "nothing"
	}
	var first, last, cps []int64
	for _, r := range recs {
		if r.IsCheckpoint() {
			cps = append(cps, r.Size())
		} else if first == nil {
			first, last = []int64{r.Seq}, []int64{r.Seq}
		} else {
			last[0] = r.Seq
		}
	}
	var parts []string
	switch {
	case first == nil:
	case first[0] == last[0]:
		parts = append(parts, fmt.Sprintf("seq %d", first[0]))
	default:
		parts = append(parts, fmt.Sprintf("seqs %d–%d", first[0], last[0]))
	}
	switch len(cps) {
	case 0:
	case 1:
		parts = append(parts, fmt.Sprintf("checkpoint %d", cps[0]))
	default:
		parts = append(parts, fmt.Sprintf("checkpoints %d–%d", cps[0], cps[len(cps)-1]))
	}
	return strings.Join(parts, " and ") + " of " + recs[0].Tenant
}
