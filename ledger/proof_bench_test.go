package ledger_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/scimtrail/scimtrail/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// syntheticTiles is the tile set of a tree whose leaf i has the hash SHA-256(i), built
// level by level instead of by appends: the level-1 hashes (one a full level-0 tile) are
// computed once, everything above from them, and level-0 tiles are generated when first
// read and kept. Only the tiles proofs touch are ever held, so a 10M-leaf tree costs a few
// MB rather than the 320 MB of its leaf hashes.
type syntheticTiles struct {
	size  int64
	mu    sync.Mutex
	upper map[[2]int64][]byte // tiles of level ≥ 1, all of them
	leafs map[int64][]byte    // level-0 tiles read so far
}

func syntheticLeaf(i int64, out []byte) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(b[:])
	return append(out, h[:]...)
}

// levelZeroTile returns the hashes of leaves [256·n, min(256·n+256, size)).
func (s *syntheticTiles) levelZeroTile(n int64) []byte {
	end := min((n+1)*ledger.TileWidth, s.size)
	out := make([]byte, 0, (end-n*ledger.TileWidth)*ledger.HashSize)
	for i := n * ledger.TileWidth; i < end; i++ {
		out = syntheticLeaf(i, out)
	}
	return out
}

// subtreeRoot is the root of a full tile: the hash of the height-8 subtree above it.
func subtreeRoot(tile []byte) []byte {
	row := make([][]byte, ledger.TileWidth)
	for i := range row {
		row[i] = tile[i*ledger.HashSize : (i+1)*ledger.HashSize]
	}
	for len(row) > 1 {
		for i := range len(row) / 2 {
			row[i] = rfc6962.DefaultHasher.HashChildren(row[2*i], row[2*i+1])
		}
		row = row[:len(row)/2]
	}
	return row[0]
}

func newSyntheticTiles(size int64) *syntheticTiles {
	s := &syntheticTiles{size: size, upper: map[[2]int64][]byte{}, leafs: map[int64][]byte{}}
	// Level 1: the roots of the full level-0 tiles, in parallel.
	full := size / ledger.TileWidth
	level := make([]byte, full*ledger.HashSize)
	var wg sync.WaitGroup
	const workers = 4
	for w := range int64(workers) {
		wg.Go(func() {
			for n := w; n < full; n += workers {
				copy(level[n*ledger.HashSize:], subtreeRoot(s.levelZeroTile(n)))
			}
		})
	}
	wg.Wait()
	for l := int64(1); len(level) > 0; l++ {
		var next []byte
		for n := int64(0); n*ledger.TileWidth*ledger.HashSize < int64(len(level)); n++ {
			tile := level[n*ledger.TileWidth*ledger.HashSize : min(int64(len(level)), (n+1)*ledger.TileWidth*ledger.HashSize)]
			s.upper[[2]int64{l, n}] = tile
			if len(tile) == ledger.TileWidth*ledger.HashSize {
				next = append(next, subtreeRoot(tile)...)
			}
		}
		level = next
	}
	return s
}

func (s *syntheticTiles) ReadTile(level, index int64) ([]byte, error) {
	if level > 0 {
		return s.upper[[2]int64{level, index}], nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.leafs[index]
	if !ok && index*ledger.TileWidth < s.size {
		t = s.levelZeroTile(index)
		s.leafs[index] = t
	}
	return t, nil
}

var (
	tenMillionOnce  sync.Once
	tenMillionTiles *syntheticTiles
)

const tenMillion = 10_000_000

// BenchmarkInclusionProof10M times ledger.InclusionProof in a tree of 10M leaves over an
// in-memory tile store: the proof's computation and tile lookups, not a database's reads.
// Each proof is for a random leaf of a fixed set of 1024, whose tiles are read once before
// the timer starts.
func BenchmarkInclusionProof10M(b *testing.B) {
	tiles, root := tenMillionTree(b)
	rng := rand.New(rand.NewPCG(1, 2))
	leaves := make([]int64, 1024)
	for i := range leaves {
		leaves[i] = rng.Int64N(tenMillion)
		p, err := ledger.InclusionProof(leaves[i], tenMillion, tiles)
		if err != nil {
			b.Fatal(err)
		}
		leaf, _ := tiles.ReadTile(0, leaves[i]/ledger.TileWidth)
		off := leaves[i] % ledger.TileWidth * ledger.HashSize
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(leaves[i]), tenMillion, leaf[off:off+ledger.HashSize], p, root); err != nil {
			b.Fatalf("proof of leaf %d: %v", leaves[i], err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ledger.InclusionProof(leaves[i%len(leaves)], tenMillion, tiles); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistencyProof10M times ledger.ConsistencyProof from random earlier sizes to
// a tree of 10M leaves, as BenchmarkInclusionProof10M does for inclusion.
func BenchmarkConsistencyProof10M(b *testing.B) {
	tiles, root := tenMillionTree(b)
	rng := rand.New(rand.NewPCG(3, 4))
	froms := make([]int64, 1024)
	for i := range froms {
		froms[i] = 1 + rng.Int64N(tenMillion-1)
		p, err := ledger.ConsistencyProof(froms[i], tenMillion, tiles)
		if err != nil {
			b.Fatal(err)
		}
		if i < 8 { // each old root costs a tree hash; a few suffice to show the proofs hold
			old, err := ledger.RootFromTiles(froms[i], tiles)
			if err != nil {
				b.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(froms[i]), tenMillion, p, old, root); err != nil {
				b.Fatalf("consistency %d→%d: %v", froms[i], tenMillion, err)
			}
		}
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ledger.ConsistencyProof(froms[i%len(froms)], tenMillion, tiles); err != nil {
			b.Fatal(err)
		}
	}
}

func tenMillionTree(b *testing.B) (*syntheticTiles, []byte) {
	b.Helper()
	tenMillionOnce.Do(func() { tenMillionTiles = newSyntheticTiles(tenMillion) })
	root, err := ledger.RootFromTiles(tenMillion, tenMillionTiles)
	if err != nil {
		b.Fatal(err)
	}
	return tenMillionTiles, root
}
