// Package ledger turns audit entries into the leaves of a tenant's Merkle log: the canonical
// (RFC 8785) bytes that are hashed, their RFC 6962 leaf hashes, and the compact range that
// lets the tree grow by one leaf without reading any other.
package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/scimtrail/scimtrail"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Version is the entry format version written in every entry's "v".
const Version = 1

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Encode returns the canonical JSON of e: the bytes that are hashed and kept byte for byte.
func Encode(e scimtrail.Entry) ([]byte, error) {
	if b, ok := appendCanonical(make([]byte, 0, 512), e); ok {
		return b[:len(b)-1], nil // appendCanonical leaves a member separator after the object
	}
	return encodeGeneral(e)
}

// encodeGeneral is Encode for any entry: the standard library's JSON, then JCS.
func encodeGeneral(e scimtrail.Entry) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise entry: %w", err)
	}
	return canon, nil
}

// Decode parses an entry body. Numbers inside changes stay json.Number so nothing is rounded.
func Decode(body []byte) (scimtrail.Entry, error) {
	var e scimtrail.Entry
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("decode entry: %w", err)
	}
	return e, nil
}

// LeafHash is the RFC 6962 hash of a leaf: SHA-256(0x00 || body).
func LeafHash(body []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(body)
}

// Append numbers entries after head, stamps them with tenant and at (truncated to the
// microsecond, the precision both databases keep), encodes and hashes them, and returns them
// with the head advanced over them. It does no I/O: the caller stores both in one transaction.
func Append(head scimtrail.LedgerHead, entries []scimtrail.Entry, at time.Time) ([]scimtrail.StoredEntry, scimtrail.LedgerHead, error) {
	r, err := openRange(head)
	if err != nil {
		return nil, head, err
	}
	at = at.UTC().Truncate(time.Microsecond)
	stored := make([]scimtrail.StoredEntry, 0, len(entries))
	for i, e := range entries {
		e.V = Version
		e.Tenant = head.Tenant
		e.Seq = head.Size + int64(i) + 1
		e.Time = at
		body, err := Encode(e)
		if err != nil {
			return nil, head, err
		}
		leaf := LeafHash(body)
		if err := r.Append(leaf, nil); err != nil {
			return nil, head, fmt.Errorf("advance tree: %w", err)
		}
		se := scimtrail.StoredEntry{
			Tenant: head.Tenant, Seq: e.Seq, Time: at, Action: e.Action,
			ActorID: e.Actor.ID, Body: body, LeafHash: leaf,
		}
		if e.Target != nil {
			se.TargetID = e.Target.ID
		}
		stored = append(stored, se)
	}
	next := scimtrail.LedgerHead{Tenant: head.Tenant, Size: head.Size + int64(len(entries)), Range: joinHashes(r.Hashes())}
	return stored, next, nil
}

// Root returns the Merkle tree hash of the log described by head.
func Root(head scimtrail.LedgerHead) ([]byte, error) {
	if head.Size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	r, err := openRange(head)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

func openRange(head scimtrail.LedgerHead) (*compact.Range, error) {
	if len(head.Range)%32 != 0 {
		return nil, fmt.Errorf("ledger head of %q: range is %d bytes, not a multiple of 32", head.Tenant, len(head.Range))
	}
	hashes := make([][]byte, 0, len(head.Range)/32)
	for i := 0; i < len(head.Range); i += 32 {
		hashes = append(hashes, head.Range[i:i+32])
	}
	r, err := rangeFactory.NewRange(0, uint64(head.Size), hashes)
	if err != nil {
		return nil, fmt.Errorf("ledger head of %q: %w", head.Tenant, err)
	}
	return r, nil
}

func joinHashes(hashes [][]byte) []byte {
	out := make([]byte, 0, 32*len(hashes))
	for _, h := range hashes {
		out = append(out, h...)
	}
	return out
}
