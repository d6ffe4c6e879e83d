package ledger

import (
	"fmt"
	"slices"

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
	cache, _ := r.read.(HashCache)
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		// Only complete subtrees inside the tree of r.size are stored hashes of it.
		if (n+1)<<uint(level) > r.size {
			return nil, fmt.Errorf("hash of level %d node %d is not in a tree of %d leaves", level, n, r.size)
		}
		if cache != nil && Cacheable(x) {
			if h, ok := cache.CachedHash(x); ok {
				out[i] = h
				continue
			}
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
		if cache != nil && Cacheable(x) {
			cache.CacheHash(x, h)
		}
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

// hashRecorder answers tlog's stored-hash reads with zero hashes and notes which it was
// asked for. tlog decides which hashes a proof or root needs from the sizes alone and only
// then combines them, so one dry run lists every hash the real run reads.
type hashRecorder struct {
	seen    map[int64]bool
	indexes []int64
}

func (r *hashRecorder) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	for _, x := range indexes {
		if !r.seen[x] {
			r.seen[x] = true
			r.indexes = append(r.indexes, x)
		}
	}
	return make([]tlog.Hash, len(indexes)), nil
}

// InclusionHashes returns the stored hashes (tlog's numbering of complete subtrees,
// tlog.StoredHashIndex) that InclusionProof(index, size) and RootFromTiles(size) read, and
// the leaf's own: O(log n) of them, so a store can fetch their tiles in one query first.
func InclusionHashes(index, size int64) ([]int64, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("inclusion proof: leaf %d is not in a tree of %d leaves", index, size)
	}
	r := &hashRecorder{seen: map[int64]bool{}}
	if _, err := tlog.ProveRecord(size, index, r); err != nil {
		return nil, err
	}
	if _, err := tlog.TreeHash(size, r); err != nil {
		return nil, err
	}
	r.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	return r.indexes, nil
}

// ConsistencyHashes returns the stored hashes that ConsistencyProof(from, to) and
// RootFromTiles(to) read, as InclusionHashes does for inclusion.
func ConsistencyHashes(from, to int64) ([]int64, error) {
	if from < 0 || from > to {
		return nil, fmt.Errorf("consistency proof: from %d to %d is not a growing tree", from, to)
	}
	r := &hashRecorder{seen: map[int64]bool{}}
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
	return r.indexes, nil
}

// TilesFor returns the distinct tiles that hold the stored hashes indexes.
func TilesFor(indexes []int64) []TileKey {
	var keys []TileKey
	for _, x := range indexes {
		t := tlog.TileForIndex(TileHeight, x)
		if k := (TileKey{int64(t.L), t.N}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// InclusionTiles returns the tiles that InclusionProof(index, size) and RootFromTiles(size)
// read, and the level-0 tile holding the leaf itself.
func InclusionTiles(index, size int64) ([]TileKey, error) {
	x, err := InclusionHashes(index, size)
	return TilesFor(x), err
}

// ConsistencyTiles returns the tiles that ConsistencyProof(from, to) and RootFromTiles(to)
// read.
func ConsistencyTiles(from, to int64) ([]TileKey, error) {
	x, err := ConsistencyHashes(from, to)
	return TilesFor(x), err
}

// HashCache is implemented by a TileReader that also remembers hashes of complete subtrees
// above the leaves, by stored-hash index. Such a hash never changes in an append-only log,
// and the upper tiles' hashes are shared by every proof, so a proof served from a cache
// rehashes only its leaf's tile. Proof functions consult the cache before reading a tile
// and fill it with what they compute.
type HashCache interface {
	CachedHash(index int64) ([HashSize]byte, bool)
	CacheHash(index int64, h [HashSize]byte)
}

// Cacheable reports whether the stored hash x belongs in a HashCache: a subtree of a tile
// above level 0. Those are few (1/256 of the leaves) and shared by many proofs; the hashes
// inside a level-0 tile are as many as the leaves and rarely asked for twice.
func Cacheable(x int64) bool {
	level, _ := tlog.SplitStoredHashIndex(x)
	return level >= TileHeight
}

// TileMap is a TileReader over tiles already read, by position; a missing tile reads as
// nil, as from a store that has none.
type TileMap map[TileKey][]byte

// ReadTile implements TileReader.
func (m TileMap) ReadTile(level, index int64) ([]byte, error) {
	return m[TileKey{level, index}], nil
}
