package ledger

import (
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// tileHashes serves tlog's stored-hash reads from C2SP tiles, so that tlog's proof code
// (RFC 6962 proofs; tlog's hashing is RFC 6962's) runs over our tile store. It does not
// authenticate tiles against a root the way tlog.TileHashReader does: the tiles are our own
// database rows, and that check would cost extra reads on every proof. Clients verify the
// proof against a signed checkpoint anyway.
type tileHashes struct {
	size int64
	read TileReader
}

func (r tileHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	tiles := make(map[tlog.Tile][]byte)
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		// Only complete subtrees inside the tree of r.size are stored hashes of it.
		if (n+1)<<uint(level) > r.size {
			return nil, fmt.Errorf("hash of level %d node %d is not in a tree of %d leaves", level, n, r.size)
		}
		t := tlog.TileForIndex(TileHeight, x)
		key := tlog.Tile{H: t.H, L: t.L, N: t.N}
		data, ok := tiles[key]
		if !ok {
			var err error
			data, err = r.read.ReadTile(int64(t.L), t.N)
			if err != nil {
				return nil, fmt.Errorf("read tile %s: %w", TilePath(int64(t.L), t.N, TileWidth), err)
			}
			tiles[key] = data
		}
		if len(data) < t.W*HashSize || len(data)%HashSize != 0 {
			return nil, fmt.Errorf("tile %d/%d is %d bytes, too short for a tree of %d leaves", t.L, t.N, len(data), r.size)
		}
		h, err := tlog.HashFromTile(t, data[:t.W*HashSize], x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// InclusionProof returns the RFC 6962 audit path of leaf index (seq index+1) in the tree of
// size leaves, bottom up, as transparency-dev/merkle/proof.VerifyInclusion expects. It
// reads at most two tiles a level.
func InclusionProof(index, size int64, read TileReader) ([][]byte, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("inclusion proof: leaf %d is not in a tree of %d leaves", index, size)
	}
	p, err := tlog.ProveRecord(size, index, tileHashes{size, read})
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of leaf %d in %d: %w", index, size, err)
	}
	return hashSlices(p), nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees of from and to
// leaves. It is empty when from is 0 or from equals to, as RFC 6962 and
// transparency-dev/merkle/proof.VerifyConsistency define.
func ConsistencyProof(from, to int64, read TileReader) ([][]byte, error) {
	if from < 0 || from > to {
		return nil, fmt.Errorf("consistency proof: from %d to %d is not a growing tree", from, to)
	}
	if from == 0 || from == to {
		return [][]byte{}, nil
	}
	p, err := tlog.ProveTree(to, from, tileHashes{to, read})
	if err != nil {
		return nil, fmt.Errorf("consistency proof from %d to %d: %w", from, to, err)
	}
	return hashSlices(p), nil
}

// RootFromTiles returns the RFC 6962 root of the tree of size leaves, read from tiles.
func RootFromTiles(size int64, read TileReader) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("root: negative size %d", size)
	}
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	h, err := tlog.TreeHash(size, tileHashes{size, read})
	if err != nil {
		return nil, fmt.Errorf("root of %d leaves: %w", size, err)
	}
	return h[:], nil
}

func hashSlices(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TileKey names a stored tile by its level and index.
type TileKey struct{ Level, Index int64 }

// tileRecorder answers tlog's stored-hash reads with zero hashes and notes the tiles they
// fall in. tlog decides which hashes a proof or root needs from the sizes alone and only
// then combines them, so one dry run lists every tile the real run reads.
type tileRecorder struct {
	seen map[TileKey]bool
	keys []TileKey
}

func (r *tileRecorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	for _, x := range indexes {
		t := tlog.TileForIndex(TileHeight, x)
		if k := (TileKey{int64(t.L), t.N}); !r.seen[k] {
			r.seen[k] = true
			r.keys = append(r.keys, k)
		}
	}
	return make([]tlog.Hash, len(indexes)), nil
}

// InclusionTiles returns the tiles that InclusionProof(index, size) and RootFromTiles(size)
// read, and the level-0 tile holding the leaf itself: O(log n) tiles, so a store can fetch
// them all in one query before computing.
func InclusionTiles(index, size int64) ([]TileKey, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("inclusion proof: leaf %d is not in a tree of %d leaves", index, size)
	}
	r := &tileRecorder{seen: map[TileKey]bool{}}
	if _, err := tlog.ProveRecord(size, index, r); err != nil {
		return nil, err
	}
	if _, err := tlog.TreeHash(size, r); err != nil {
		return nil, err
	}
	r.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	return r.keys, nil
}

// ConsistencyTiles returns the tiles that ConsistencyProof(from, to) and RootFromTiles(to)
// read, as InclusionTiles does for inclusion.
func ConsistencyTiles(from, to int64) ([]TileKey, error) {
	if from < 0 || from > to {
		return nil, fmt.Errorf("consistency proof: from %d to %d is not a growing tree", from, to)
	}
	r := &tileRecorder{seen: map[TileKey]bool{}}
	if from > 0 && from < to {
		if _, err := tlog.ProveTree(to, from, r); err != nil {
			return nil, err
		}
	}
	if to > 0 {
		if _, err := tlog.TreeHash(to, r); err != nil {
			return nil, err
		}
	}
	return r.keys, nil
}

// TileMap is a TileReader over tiles already read, by position; a missing tile reads as
// nil, as from a store that has none.
type TileMap map[TileKey][]byte

// ReadTile implements TileReader.
func (m TileMap) ReadTile(level, index int64) ([]byte, error) {
	return m[TileKey{level, index}], nil
}
