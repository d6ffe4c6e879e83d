package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// errNoKeys is returned when a checkpoint must be signed but this Service has no keys.
var errNoKeys = scimtrail.Errorf(scimtrail.EINTERNAL, "this server has no checkpoint-signing key")

// signCheckpoint signs and stores a checkpoint of head unless one of head.Size exists. The
// root comes from the head's compact range, which the write path advanced in the same
// transaction as the entries; the insert keeps the first checkpoint of a size, so two roots
// for one size are never stored.
func (s *Service) signCheckpoint(ctx context.Context, head scimtrail.LedgerHead) error {
	if s.ledger.keys == nil {
		return errNoKeys
	}
	origin, err := s.Origin(ctx, head.Tenant)
	if err != nil {
		return err
	}
	root, err := ledger.Root(head)
	if err != nil {
		return fmt.Errorf("root of %s at %d: %w", head.Tenant, head.Size, err)
	}
	note, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: origin, Size: head.Size, Root: root}, s.ledger.keys.Signer())
	if err != nil {
		return err
	}
	return s.store.Update(ctx, head.Tenant, func(tx scimtrail.Tx) error {
		_, err := tx.InsertCheckpoint(ctx, scimtrail.StoredCheckpoint{Tenant: head.Tenant, Size: head.Size, Root: root, Note: note, Signed: s.now().UTC()})
		return err
	})
}

// SignCheckpoints signs a checkpoint for every log that grew since its last one and
// returns how many it signed.
func (s *Service) SignCheckpoints(ctx context.Context) (int, error) {
	var heads []scimtrail.LedgerHead
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		heads, err = tx.UncheckpointedHeads(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	for i, h := range heads {
		if err := s.signCheckpoint(ctx, h); err != nil {
			return i, err
		}
	}
	return len(heads), nil
}

// RunCheckpointer signs checkpoints for grown logs every interval until ctx ends, so that
// a checkpoint covers every entry within about interval of its commit.
func (s *Service) RunCheckpointer(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.SignCheckpoints(ctx); err != nil && ctx.Err() == nil {
			logger.Error("sign checkpoints", "err", err)
		}
	}
}

// Checkpoint returns the tenant's latest checkpoint, signing one first if the log grew
// since. Returns ENOTFOUND for an empty log.
func (s *Service) Checkpoint(ctx context.Context, tenant string) (scimtrail.StoredCheckpoint, error) {
	var head scimtrail.LedgerHead
	var cp scimtrail.StoredCheckpoint
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		if head, err = tx.LedgerHead(ctx, tenant); err != nil {
			return err
		}
		cp, err = tx.LatestCheckpoint(ctx, tenant)
		if isNotFound(err) {
			err = nil
		}
		return err
	})
	if err != nil {
		return cp, err
	}
	if head.Size == 0 {
		return cp, scimtrail.Errorf(scimtrail.ENOTFOUND, "the log of tenant %q is empty", tenant)
	}
	if cp.Note != nil && cp.Size >= head.Size {
		return cp, nil
	}
	head.Tenant = tenant
	if err := s.signCheckpoint(ctx, head); err != nil {
		return cp, err
	}
	err = s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		cp, err = tx.LatestCheckpoint(ctx, tenant)
		return err
	})
	return cp, err
}

// Checkpoints returns every checkpoint of the tenant, smallest first.
func (s *Service) Checkpoints(ctx context.Context, tenant string) ([]scimtrail.StoredCheckpoint, error) {
	var cps []scimtrail.StoredCheckpoint
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		cps, err = tx.Checkpoints(ctx, tenant)
		return err
	})
	return cps, err
}

// Proof is an RFC 6962 inclusion or consistency proof and the root it leads to.
type Proof struct {
	Size     int64    // the tree size proved against ("to" of a consistency proof)
	Root     []byte   // the root of that tree
	Hashes   [][]byte // the proof, bottom up
	LeafHash []byte   // inclusion: the leaf's hash
}

// sizeInLog checks that size is a tree the log has had (1 … head) and returns the head.
func sizeInLog(ctx context.Context, tx scimtrail.ReadTx, tenant string, what string, size int64) error {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return err
	}
	if size < 1 || size > head.Size {
		return scimtrail.Errorf(scimtrail.EINVALID, "%s %d is not a size of the log of %s, which has %d entries", what, size, tenant, head.Size)
	}
	return nil
}

// InclusionProof proves that entry seq is in the tenant's tree of size entries. Returns
// EINVALID unless 1 ≤ seq ≤ size ≤ the log's size.
func (s *Service) InclusionProof(ctx context.Context, tenant string, seq, size int64) (Proof, error) {
	var p Proof
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := sizeInLog(ctx, tx, tenant, "size", size); err != nil {
			return err
		}
		if seq < 1 || seq > size {
			return scimtrail.Errorf(scimtrail.EINVALID, "seq %d is not in a tree of %d entries", seq, size)
		}
		return inclusion(ctx, tx, tenant, seq, size, &p, &s.ledger.proofs)
	})
	return p, err
}

// proofCacheSize bounds proofCache: about 10 MB. A 10M-entry log has ~40k subtree hashes
// in its upper tiles, so one big log stays cached whole.
const proofCacheSize = 1 << 17

// proofCache holds hashes of complete subtrees above the leaves of every tenant's tree, by
// tlog stored-hash index, for ledger.HashCache. They never change in an append-only log, and
// the upper tiles' hashes are shared by every proof of a log, so with them a proof reads
// and rehashes only its leaf's tile. When full it starts over, which costs the next few
// proofs their speed and nothing else. The zero value is ready to use.
type proofCache struct {
	mu sync.Mutex
	m  map[proofKey][ledger.HashSize]byte
}

type proofKey struct {
	tenant string
	index  int64
}

// proofTiles is one proof's TileReader: the tiles read for it, the cached hashes it was
// planned with, and the tenant's cache to fill.
type proofTiles struct {
	ledger.TileMap
	hits   map[int64][ledger.HashSize]byte
	cache  *proofCache
	tenant string
}

// CachedHash answers from the hits taken when the proof's tiles were planned, not from the
// shared cache, which another proof may empty meanwhile: a hash counted on then has no
// tile read for it.
func (t proofTiles) CachedHash(index int64) ([ledger.HashSize]byte, bool) {
	h, ok := t.hits[index]
	return h, ok
}

func (c *proofCache) get(tenant string, index int64) ([ledger.HashSize]byte, bool) {
	if c == nil {
		return [ledger.HashSize]byte{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[proofKey{tenant, index}]
	return h, ok
}

func (t proofTiles) CacheHash(index int64, h [ledger.HashSize]byte) {
	if t.cache == nil {
		return
	}
	t.cache.mu.Lock()
	defer t.cache.mu.Unlock()
	if t.cache.m == nil || len(t.cache.m) >= proofCacheSize {
		t.cache.m = make(map[proofKey][ledger.HashSize]byte)
	}
	t.cache.m[proofKey{t.tenant, index}] = h
}

// prefetchTiles reads, in one query, the tiles of the stored hashes a proof needs that the
// cache (nil: none) does not hold: a proof at 10M entries needs up to five tiles, which one
// by one cost a query each.
func prefetchTiles(ctx context.Context, tx scimtrail.ReadTx, tenant string, indexes []int64, cache *proofCache) (proofTiles, error) {
	r := proofTiles{TileMap: ledger.TileMap{}, hits: map[int64][ledger.HashSize]byte{}, cache: cache, tenant: tenant}
	var need []int64
	for _, x := range indexes {
		if h, ok := cache.get(tenant, x); ok && ledger.Cacheable(x) {
			r.hits[x] = h
		} else {
			need = append(need, x)
		}
	}
	keys := ledger.TilesFor(need)
	if len(keys) == 0 {
		return r, nil
	}
	at := make([]scimtrail.Tile, len(keys))
	for i, k := range keys {
		at[i] = scimtrail.Tile{Level: k.Level, Index: k.Index}
	}
	tiles, err := tx.ReadTiles(ctx, tenant, at)
	if err != nil {
		return r, err
	}
	for _, t := range tiles {
		r.TileMap[ledger.TileKey{Level: t.Level, Index: t.Index}] = t.Data
	}
	return r, nil
}

// inclusion proves entry seq in the tree of size entries, with cache (nil: none).
func inclusion(ctx context.Context, tx scimtrail.ReadTx, tenant string, seq, size int64, p *Proof, cache *proofCache) error {
	indexes, err := ledger.InclusionHashes(seq-1, size)
	if err != nil {
		return err
	}
	r, err := prefetchTiles(ctx, tx, tenant, indexes, cache)
	if err != nil {
		return err
	}
	hashes, err := ledger.InclusionProof(seq-1, size, r)
	if err != nil {
		return err
	}
	root, err := ledger.RootFromTiles(size, r)
	if err != nil {
		return err
	}
	leaf, err := r.ReadTile(0, (seq-1)/ledger.TileWidth)
	if err != nil {
		return err
	}
	off := (seq - 1) % ledger.TileWidth * ledger.HashSize
	if int64(len(leaf)) < off+ledger.HashSize {
		return fmt.Errorf("leaf %d of %s is not in its tile", seq, tenant)
	}
	*p = Proof{Size: size, Root: root, Hashes: hashes, LeafHash: leaf[off : off+ledger.HashSize]}
	return nil
}

// ConsistencyProof proves that the tenant's tree of from entries is a prefix of its tree of
// to entries. Returns EINVALID unless 1 ≤ from ≤ to ≤ the log's size.
func (s *Service) ConsistencyProof(ctx context.Context, tenant string, from, to int64) (Proof, error) {
	var p Proof
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := sizeInLog(ctx, tx, tenant, "to", to); err != nil {
			return err
		}
		if from < 1 || from > to {
			return scimtrail.Errorf(scimtrail.EINVALID, "from %d must be between 1 and to (%d)", from, to)
		}
		return consistency(ctx, tx, tenant, from, to, &p, &s.ledger.proofs, nil)
	})
	return p, err
}

// consistency proves the tree of from entries a prefix of the tree of to, with cache (nil:
// none). planned, if set, runs between reading the tiles and computing (tests).
func consistency(ctx context.Context, tx scimtrail.ReadTx, tenant string, from, to int64, p *Proof, cache *proofCache, planned func()) error {
	indexes, err := ledger.ConsistencyHashes(from, to)
	if err != nil {
		return err
	}
	r, err := prefetchTiles(ctx, tx, tenant, indexes, cache)
	if err != nil {
		return err
	}
	if planned != nil {
		planned()
	}
	hashes, err := ledger.ConsistencyProof(from, to, r)
	if err != nil {
		return err
	}
	root, err := ledger.RootFromTiles(to, r)
	*p = Proof{Size: to, Root: root, Hashes: hashes}
	return err
}

// EntryReceipt is an entry's proof of inclusion in a signed checkpoint.
type EntryReceipt struct {
	Seq        int64
	Checkpoint []byte // the signed note
	Proof      Proof
}

// Receipt returns the inclusion proof of entry seq against the tenant's latest checkpoint,
// signing one first if the log grew, so the checkpoint always covers seq.
func (s *Service) Receipt(ctx context.Context, tenant string, seq int64) (EntryReceipt, error) {
	cp, err := s.Checkpoint(ctx, tenant)
	if err != nil {
		return EntryReceipt{}, err
	}
	p, err := s.InclusionProof(ctx, tenant, seq, cp.Size)
	return EntryReceipt{Seq: seq, Checkpoint: cp.Note, Proof: p}, err
}

// Tile returns the bytes of a C2SP tile or entry bundle of the tenant's log, or ENOTFOUND
// when the log does not have it (yet).
func (s *Service) Tile(ctx context.Context, tenant string, a ledger.TileAddr) ([]byte, error) {
	missing := scimtrail.Errorf(scimtrail.ENOTFOUND, "no such tile")
	var out []byte
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if a.Entries {
			es, err := tx.Entries(ctx, tenant, a.Index*ledger.TileWidth, a.Width, scimtrail.EntryFilter{})
			if err != nil {
				return err
			}
			if len(es) < a.Width {
				return missing
			}
			bodies := make([][]byte, len(es))
			for i, e := range es {
				if e.Body == nil {
					return scimtrail.Errorf(scimtrail.ENOTFOUND, "the entries of this bundle were pruned")
				}
				bodies[i] = e.Body
			}
			out, err = ledger.EncodeEntryBundle(bodies)
			return err
		}
		data, err := tx.ReadTile(ctx, tenant, a.Level, a.Index)
		if err != nil {
			return err
		}
		if len(data) < a.Width*ledger.HashSize {
			return missing
		}
		out = data[:a.Width*ledger.HashSize]
		return nil
	})
	return out, err
}

// auditReadEvery is how often one auditor token's reads of one tenant's log are recorded.
// Logging every read would make a polling auditor grow the log it polls without bound.
const auditReadEvery = time.Hour

// NoteAuditRead records an audit.read entry for an auditor's read of the tenant's log, at
// most once per token and tenant per auditReadEvery on this server (each replica keeps its
// own memory, so N replicas log at most N times an hour). Other token kinds are not logged:
// reading is an auditor's whole job, and admins' reads would drown the log.
func (s *Service) NoteAuditRead(ctx context.Context, o Origin, tenant string, tok scimtrail.Token, what string) error {
	if tok.Kind != scimtrail.TokenAuditor {
		return nil
	}
	now := s.now()
	k := readKey{tenant, tok.ID}
	s.ledger.mu.Lock()
	if s.ledger.reads == nil {
		s.ledger.reads = map[readKey]time.Time{}
	}
	last, seen := s.ledger.reads[k]
	if seen && now.Sub(last) < auditReadEvery {
		s.ledger.mu.Unlock()
		return nil
	}
	s.ledger.reads[k] = now
	s.ledger.mu.Unlock()
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		_, err := appendEntries(ctx, tx, tenant, o, s.stamp(), scimtrail.Entry{
			Action: "audit.read",
			Target: &scimtrail.Target{Type: "AuditLog", ID: tenant, Display: what},
		})
		return err
	})
	if err != nil {
		s.ledger.mu.Lock()
		delete(s.ledger.reads, k)
		s.ledger.mu.Unlock()
	}
	return err
}

// CheckpointRecord is the latest checkpoint as exports deliver it beside each record, in the
// shape GET …/audit/checkpoint returns, so a receiver can check every record it gets against
// a signed root kept outside scimtrail's reach.
func (s *Service) CheckpointRecord(ctx context.Context, tenant string) (json.RawMessage, error) {
	cp, err := s.Checkpoint(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return CheckpointJSON(cp)
}

// CheckpointJSON is cp in the shape CheckpointRecord gives.
func CheckpointJSON(cp scimtrail.StoredCheckpoint) (json.RawMessage, error) {
	return json.Marshal(struct {
		Size       int64  `json:"size"`
		Root       []byte `json:"root"`
		Checkpoint string `json:"checkpoint"`
	}{cp.Size, cp.Root, string(cp.Note)})
}
