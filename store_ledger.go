package scimtrail

import (
	"context"
	"time"
)

// Tile is one stored C2SP tile of a tenant's Merkle tree: the concatenated 32-byte hashes at
// tree level 8·Level of nodes [256·Index, 256·Index+len(Data)/32). A partial tile of the
// tree's right edge is overwritten by a wider one as the tree grows, so a store keeps one
// row per (tenant, Level, Index).
type Tile struct {
	Level, Index int64
	Data         []byte
}

// StoredCheckpoint is a signed checkpoint as kept in the database: the tree size, its root
// and the signed note (C2SP tlog-checkpoint) that commits to them. Signed is when the server
// signed it (the note format has no time of its own); zero for checkpoints stored before
// the time was kept.
type StoredCheckpoint struct {
	Tenant string
	Size   int64
	Root   []byte
	Note   []byte
	Signed time.Time
}

// LedgerReadTx reads the ledger's tree and checkpoints; it is part of ReadTx.
type LedgerReadTx interface {
	RetentionReadTx
	// ReadTile returns the tenant's stored tile at level and index, or nil and no error
	// when there is none.
	ReadTile(ctx context.Context, tenant string, level, index int64) ([]byte, error)
	// ReadTiles returns the tenant's stored tiles at the positions in at (Level and Index;
	// Data is ignored), those that exist only, in any order, in one query: a proof's
	// O(log n) tiles cost one round trip, not one each.
	ReadTiles(ctx context.Context, tenant string, at []Tile) ([]Tile, error)
	// LeafHashes returns the stored leaf hashes of the tenant's entries with seq > after,
	// up to limit of them (limit <= 0: all), in seq order.
	LeafHashes(ctx context.Context, tenant string, after int64, limit int) ([][]byte, error)
	// ScanEntryHashes calls fn for each of the tenant's entries with seq > after, at most
	// limit of them (limit <= 0: all), in seq order, with its seq, its body (nil when
	// pruned) and its stored leaf hash. body and leafHash are valid only during the call.
	// It reads those three columns and decodes nothing else, so that verifying a log
	// costs about as much as hashing it. An error from fn stops the scan and is returned.
	ScanEntryHashes(ctx context.Context, tenant string, after int64, limit int, fn func(seq int64, body, leafHash []byte) error) error
	// Checkpoints returns every checkpoint of the tenant, smallest size first.
	Checkpoints(ctx context.Context, tenant string) ([]StoredCheckpoint, error)
	// LatestCheckpoint returns the tenant's checkpoint of the largest size, or ENOTFOUND.
	LatestCheckpoint(ctx context.Context, tenant string) (StoredCheckpoint, error)
	// UncheckpointedHeads returns the heads of every log whose size is larger than that of
	// its latest checkpoint (and above zero): the logs a checkpointer must sign.
	UncheckpointedHeads(ctx context.Context) ([]LedgerHead, error)
	// Setting returns an install-wide setting, or ENOTFOUND.
	Setting(ctx context.Context, key string) (string, error)
}

// LedgerTx writes the ledger's tree and checkpoints; it is part of Tx.
type LedgerTx interface {
	RetentionTx
	// PutTiles stores tiles of the tenant, replacing stored tiles at the same position.
	PutTiles(ctx context.Context, tenant string, tiles []Tile) error
	// InsertCheckpoint stores c unless the tenant already has a checkpoint of c.Size, and
	// reports whether it stored it. A second root for one size can therefore never be kept.
	InsertCheckpoint(ctx context.Context, c StoredCheckpoint) (bool, error)
	// InsertSetting stores an install-wide setting unless key is already set, and reports
	// whether it stored it, so that replicas starting together agree on the first value.
	InsertSetting(ctx context.Context, key, value string) (bool, error)
}

// Retention is a tenant's retention policy for its log's entry bodies and how far pruning
// has gone. Pruning drops bodies only, never leaf hashes, tiles or checkpoints, so every
// proof stays valid (C2SP "minimum index" pruning).
type Retention struct {
	Tenant string
	// Period is how long entry bodies are kept; 0 keeps them forever.
	Period time.Duration
	// LegalHold stops all pruning while set, whatever Period says.
	LegalHold bool
	// PrunedTo is the last seq whose body was dropped (0: none): every entry with
	// seq <= PrunedTo is pruned, so the log's minimum index is PrunedTo.
	PrunedTo int64
}

// RetentionReadTx reads retention policies; it is part of ReadTx.
type RetentionReadTx interface {
	// Retention returns the tenant's policy; a tenant without one gets Period 0 (keep
	// forever), no hold and PrunedTo 0.
	Retention(ctx context.Context, tenant string) (Retention, error)
	// Retentions returns the policies of every tenant with a Period set.
	Retentions(ctx context.Context) ([]Retention, error)
	// FirstEntryAtOrAfter returns the smallest seq in (after, upTo] whose entry time is at
	// or after t, or upTo+1 when there is none. Entries from after on are scanned in seq
	// order, so the cost is that of the range retention would prune.
	FirstEntryAtOrAfter(ctx context.Context, tenant string, after, upTo int64, t time.Time) (int64, error)
}

// RetentionTx writes retention policies and prunes; it is part of Tx.
type RetentionTx interface {
	// PutRetention stores the tenant's policy, replacing the previous one.
	PutRetention(ctx context.Context, r Retention) error
	// PruneEntries drops the bodies of the tenant's entries with seq in [from, to], keeping
	// their rows and leaf hashes; reads return them with a nil Body. It returns how many
	// bodies it dropped.
	PruneEntries(ctx context.Context, tenant string, from, to int64) (int64, error)
}
