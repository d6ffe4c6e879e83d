package service

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// stamp is the time a change takes effect, at the microsecond precision both databases keep.
func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// appendEntries numbers entries after the tenant's ledger head, stamps them with at and the
// origin, and stores them and the advanced head in tx — the same transaction as the state
// change they record. It returns the receipt of the last entry.
func appendEntries(ctx context.Context, tx scimtrail.Tx, tenant string, o Origin, at time.Time, entries ...scimtrail.Entry) (scimtrail.Receipt, error) {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return scimtrail.Receipt{}, err
	}
	head.Tenant = tenant
	if len(entries) == 0 {
		return scimtrail.Receipt{Seq: head.Size, Log: tenant}, nil
	}
	enc, err := encodeEntries(head, o, at, entries)
	if err != nil {
		return scimtrail.Receipt{}, err
	}
	return enc.store(ctx, tx)
}

// encodedEntries are entries numbered, encoded and hashed after a ledger head: what
// appendEntries stores. Encoding needs only the head, so a change decided outside the
// writer (access_prepared.go) encodes its entries there too.
type encodedEntries struct {
	head   scimtrail.LedgerHead // the head they follow
	stored []scimtrail.StoredEntry
	next   scimtrail.LedgerHead
	// opened and refused are what the entries open (Entry.Opens, Entry.Refuses), with
	// their seqs: stored beside the entries.
	opened  []scimtrail.AccessInterval
	refused []scimtrail.AccessRefusal
}

func encodeEntries(head scimtrail.LedgerHead, o Origin, at time.Time, entries []scimtrail.Entry) (encodedEntries, error) {
	for i := range entries {
		entries[i].Actor = o.Actor
		entries[i].Channel = o.Channel
		if entries[i].Cause == causeFirst {
			entries[i].Cause = head.Size + 1
		}
	}
	stored, next, err := ledger.Append(head, entries, at)
	if err != nil {
		return encodedEntries{}, err
	}
	enc := encodedEntries{head: head, stored: stored, next: next}
	// Intervals and refusals an entry opens are stored with its seq, so that evidence cites
	// the granting (or refusing) entry even after retention prunes its body.
	for i, e := range entries {
		if e.Opens != nil {
			iv := *e.Opens
			iv.Seq = stored[i].Seq
			enc.opened = append(enc.opened, iv)
		}
		if e.Refuses != nil {
			r := *e.Refuses
			r.Seq = stored[i].Seq
			enc.refused = append(enc.refused, r)
		}
	}
	return enc, nil
}

// store writes the entries, their tiles and the advanced head; the store refuses them
// (ECONFLICT) if the log no longer ends at the head they follow.
func (e encodedEntries) store(ctx context.Context, tx scimtrail.Tx) (scimtrail.Receipt, error) {
	if err := appendTiles(ctx, tx, e.head.Size, e.stored); err != nil {
		return scimtrail.Receipt{}, err
	}
	if err := tx.AppendEntries(ctx, e.stored, e.next); err != nil {
		return scimtrail.Receipt{}, err
	}
	if err := tx.InsertAccess(ctx, e.opened); err != nil {
		return scimtrail.Receipt{}, err
	}
	if err := tx.InsertRefusals(ctx, e.refused); err != nil {
		return scimtrail.Receipt{}, err
	}
	return scimtrail.Receipt{Seq: e.next.Size, Log: e.head.Tenant}, nil
}

// causeFirst, as an entry's Cause, asks appendEntries for the seq of the first entry of the
// same append: derived entries (access.granted…) name the change that caused them.
const causeFirst = -1

// newID returns a new resource or token id. UUIDv7 ids are time-ordered, which keeps index
// inserts local, and never repeat, so history never confuses two things.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newSecret returns a token secret: a recognisable prefix for secret scanners, then 256 bits
// of randomness.
func newSecret(kind scimtrail.TokenKind) string {
	var b [32]byte
	rand.Read(b[:])
	return fmt.Sprintf("stk_%s_%s", kind, strings.ToLower(secretEncoding.EncodeToString(b[:])))
}

// notFound is the error for a missing thing; it reads the same whether the thing never
// existed or belongs to another tenant.
func notFound(what, id string) error {
	return scimtrail.Errorf(scimtrail.ENOTFOUND, "%s %q not found", what, id)
}

func isNotFound(err error) bool { return scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND }
