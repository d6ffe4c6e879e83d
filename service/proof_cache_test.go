package service

import (
	"context"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// TestProofCache serves inclusion and consistency proofs in a three-level tree (70,000
// leaves) with one subtree-hash cache kept across them, as the server does: every proof
// verifies, later proofs read fewer tiles, and a cache emptied between planning a proof and
// computing it (another proof filled it up) costs nothing but speed.
func TestProofCache(t *testing.T) {
	const size = 70_000
	db, root := syntheticTileLog(t, size)
	ctx := context.Background()
	cache := &proofCache{}
	prove := func(seq int64) int {
		t.Helper()
		var p Proof
		tiles := 0
		err := db.View(ctx, func(tx scimtrail.ReadTx) error {
			indexes, err := ledger.InclusionHashes(seq-1, size)
			if err != nil {
				return err
			}
			r, err := prefetchTiles(ctx, tx, "acme", indexes, cache)
			tiles = len(r.TileMap)
			if err != nil {
				return err
			}
			return inclusion(ctx, tx, "acme", seq, size, &p, cache)
		})
		if err != nil {
			t.Fatalf("inclusion of %d: %v", seq, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), size, p.LeafHash, p.Hashes, root); err != nil {
			t.Fatalf("inclusion of %d: %v", seq, err)
		}
		return tiles
	}
	cold := prove(size / 2)
	for seq := int64(1); seq <= size; seq += 977 {
		prove(seq)
	}
	// Warm, a proof reads only level-0 tiles: its leaf's, and the right edge's for the root.
	if warm := prove(size / 2); warm != 2 || cold <= warm {
		t.Errorf("a proof reads %d tiles with a warm cache, %d cold; want 2 and more", warm, cold)
	}
	if len(cache.m) == 0 {
		t.Fatal("the cache holds nothing")
	}
	for k := range cache.m {
		if level, _ := tlog.SplitStoredHashIndex(k.index); level < ledger.TileHeight {
			t.Fatalf("the cache holds a hash of level %d, inside a level-0 tile", level)
		}
	}

	// Planned against a full cache, computed after it was emptied.
	for _, from := range []int64{1, 300, 65536, 69_999} {
		var p Proof
		err := db.View(ctx, func(tx scimtrail.ReadTx) error {
			return consistency(ctx, tx, "acme", from, size, &p, cache, func() {
				cache.mu.Lock()
				cache.m = nil
				cache.mu.Unlock()
			})
		})
		if err != nil {
			t.Fatalf("consistency from %d with the cache emptied meanwhile: %v", from, err)
		}
		var old []byte
		db.View(ctx, func(tx scimtrail.ReadTx) error {
			old, err = ledger.RootFromTiles(from, txTiles{ctx, tx, "acme"})
			return err
		})
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(from), size, p.Hashes, old, root); err != nil {
			t.Fatalf("consistency from %d: %v", from, err)
		}
		for seq := int64(1); seq <= size; seq += 9_973 { // refill
			prove(seq)
		}
	}
}
