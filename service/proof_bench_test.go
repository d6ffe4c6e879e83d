package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/sqlite"
)

// BenchmarkProofSQLite times inclusion and consistency proofs as the server serves them
// (one read transaction a proof, tiles read from SQLite, the root from tiles too) in a log of
// 1M leaves. The tile rows are generated from synthetic leaf hashes with ledger.UpdateTiles,
// not by 1M appends; the ledger head check of the public methods (one primary-key read) is
// left out because the head row would need 1M entry rows behind it.
func BenchmarkProofSQLite(b *testing.B) {
	const size = 1 << 20
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	mem := memTiles{}
	const chunk = 1 << 16
	leaves := make([][]byte, chunk)
	for start := int64(0); start < size; start += chunk {
		for i := range leaves {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(start)+uint64(i))
			h := sha256.Sum256(n[:])
			leaves[i] = h[:]
		}
		tiles, err := ledger.UpdateTiles(start, leaves, mem)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range tiles {
			mem[[2]int64{t.Level, t.Index}] = t.Data
		}
	}
	var rows []scimtrail.Tile
	for k, data := range mem {
		rows = append(rows, scimtrail.Tile{Level: k[0], Index: k[1], Data: data})
	}
	if err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error { return tx.PutTiles(ctx, "acme", rows) }); err != nil {
		b.Fatal(err)
	}
	root, err := ledger.RootFromTiles(size, mem)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))

	b.Run("Inclusion", func(b *testing.B) {
		for b.Loop() {
			seq := 1 + rng.Int64N(size)
			var p Proof
			if err := db.View(ctx, func(tx scimtrail.ReadTx) error { return inclusion(ctx, tx, "acme", seq, size, &p) }); err != nil {
				b.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), size, p.LeafHash, p.Hashes, root); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Consistency", func(b *testing.B) {
		for b.Loop() {
			from := 1 + rng.Int64N(size-1)
			err := db.View(ctx, func(tx scimtrail.ReadTx) error {
				r := txTiles{ctx, tx, "acme"}
				if _, err := ledger.ConsistencyProof(from, size, r); err != nil {
					return err
				}
				_, err := ledger.RootFromTiles(size, r)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
