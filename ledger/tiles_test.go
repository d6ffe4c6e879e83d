package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/scimtrail/scimtrail/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
	"pgregory.net/rapid"
)

// tb is what both *testing.T and *rapid.T offer, so helpers serve property tests too.
type tb interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
}

// memTiles is a tile store as the database keeps it: one row per (level, index), a partial
// tile replaced by the wider one.
type memTiles struct {
	tiles map[[2]int64][]byte
	reads int
	cache map[int64][ledger.HashSize]byte // subtree hashes, for the proofs' HashCache
}

func newMemTiles() *memTiles {
	return &memTiles{tiles: map[[2]int64][]byte{}, cache: map[int64][ledger.HashSize]byte{}}
}

// cachedTiles is a TileReader over some tiles with a HashCache, as the service serves proofs.
type cachedTiles struct {
	ledger.TileMap
	cache map[int64][ledger.HashSize]byte
}

func (c cachedTiles) CachedHash(x int64) ([ledger.HashSize]byte, bool) {
	h, ok := c.cache[x]
	return h, ok
}

func (c cachedTiles) CacheHash(x int64, h [ledger.HashSize]byte) {
	if !ledger.Cacheable(x) {
		panic("a leaf hash was offered to the cache")
	}
	c.cache[x] = h
}

func (m *memTiles) ReadTile(level, index int64) ([]byte, error) {
	m.reads++
	return m.tiles[[2]int64{level, index}], nil
}

func (m *memTiles) write(tb tb, ts []ledger.TileData) {
	tb.Helper()
	for _, t := range ts {
		if len(t.Data) != t.Width*ledger.HashSize {
			tb.Fatalf("tile %d/%d: %d bytes for width %d", t.Level, t.Index, len(t.Data), t.Width)
		}
		m.tiles[[2]int64{t.Level, t.Index}] = bytes.Clone(t.Data)
	}
}

// testLeaf is the leaf hash of a distinct entry body per index.
func testLeaf(i int64) []byte {
	return ledger.LeafHash(binary.BigEndian.AppendUint64([]byte("entry "), uint64(i)))
}

func testLeaves(from, to int64) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, testLeaf(i))
	}
	return out
}

// tlogHashes holds every stored hash of a tree, built with sumdb/tlog independently of
// UpdateTiles, so tlog.ReadTileData gives the reference tiles.
type tlogHashes []tlog.Hash

func (s tlogHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = s[x]
	}
	return out, nil
}

func buildTlog(tb tb, leaves [][]byte) tlogHashes {
	tb.Helper()
	var s tlogHashes
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), tlog.Hash(l), s)
		if err != nil {
			tb.Fatal(err)
		}
		s = append(s, hs...)
	}
	return s
}

func appendBatches(tb tb, store *memTiles, batches []int) [][]byte {
	tb.Helper()
	var size int64
	var all [][]byte
	for _, n := range batches {
		leaves := testLeaves(size, size+int64(n))
		got, err := ledger.UpdateTiles(size, leaves, store)
		if err != nil {
			tb.Fatal(err)
		}
		want := tlog.NewTiles(ledger.TileHeight, size, size+int64(n))
		if len(got) != len(want) {
			tb.Fatalf("append %d to %d: %d tiles, tlog.NewTiles says %d", n, size, len(got), len(want))
		}
		for i := range got {
			if g, w := got[i], want[i]; g.Level != int64(w.L) || g.Index != w.N || g.Width != w.W {
				tb.Fatalf("append %d to %d: tile %d is %d/%d.p/%d, tlog says %d/%d.p/%d", n, size, i, g.Level, g.Index, g.Width, w.L, w.N, w.W)
			}
		}
		store.write(tb, got)
		all = append(all, leaves...)
		size += int64(n)
	}
	return all
}

// checkTiles compares every stored tile with tlog.ReadTileData over the same leaves.
func checkTiles(tb tb, store *memTiles, leaves [][]byte) {
	tb.Helper()
	size := int64(len(leaves))
	ref := buildTlog(tb, leaves)
	want := tlog.NewTiles(ledger.TileHeight, 0, size)
	if len(store.tiles) != len(want) {
		tb.Fatalf("size %d: %d tiles stored, want %d", size, len(store.tiles), len(want))
	}
	for _, w := range want {
		data, err := tlog.ReadTileData(w, ref)
		if err != nil {
			tb.Fatal(err)
		}
		if got := store.tiles[[2]int64{int64(w.L), w.N}]; !bytes.Equal(got, data) {
			tb.Fatalf("size %d: tile %s differs from tlog's", size, ledger.TilePath(int64(w.L), w.N, w.W))
		}
	}
}

func TestUpdateTilesMatchesTlog(t *testing.T) {
	for _, batch := range []int{1, 3, 255, 256, 257, 1000} {
		t.Run(fmt.Sprint("Batch", batch), func(t *testing.T) {
			store := newMemTiles()
			var batches []int
			for total := 0; total < 1000; total += batch {
				batches = append(batches, min(batch, 1000-total))
			}
			var size int
			for i := range batches {
				size += batches[i]
				got, err := ledger.UpdateTiles(int64(size-batches[i]), testLeaves(int64(size-batches[i]), int64(size)), store)
				if err != nil {
					t.Fatal(err)
				}
				store.write(t, got)
				checkTiles(t, store, testLeaves(0, int64(size)))
			}
		})
	}
}

// Every size 0…1000 reached in one append from every smaller size would be 500k cases;
// the property test covers random batchings instead, and this one the sizes one by one.
func TestUpdateTilesEverySize(t *testing.T) {
	store := newMemTiles()
	for size := int64(0); size < 1000; size++ {
		got, err := ledger.UpdateTiles(size, [][]byte{testLeaf(size)}, store)
		if err != nil {
			t.Fatal(err)
		}
		store.write(t, got)
		if size%37 == 0 || size%256 == 255 {
			checkTiles(t, store, testLeaves(0, size+1))
		}
	}
	checkTiles(t, store, testLeaves(0, 1000))
}

func TestUpdateTilesProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		batches := rapid.SliceOfN(rapid.IntRange(0, 600), 1, 8).Draw(t, "batches")
		store := newMemTiles()
		leaves := appendBatches(t, store, batches)
		checkTiles(t, store, leaves)
		size := int64(len(leaves))
		if size == 0 {
			return
		}
		// Each append reads at most one partial tile a level.
		store.reads = 0
		more := testLeaves(size, size+300)
		if _, err := ledger.UpdateTiles(size, more, store); err != nil {
			t.Fatal(err)
		}
		if store.reads > 3 {
			t.Fatalf("append to %d read %d tiles", size, store.reads)
		}
	})
}

func TestUpdateTilesRefusesStoreAhead(t *testing.T) {
	store := newMemTiles()
	appendBatches(t, store, []int{10})
	if _, err := ledger.UpdateTiles(5, testLeaves(5, 6), store); err == nil {
		t.Fatal("UpdateTiles over a tile wider than the old size: no error")
	}
	if _, err := ledger.UpdateTiles(0, [][]byte{[]byte("short")}, store); err == nil {
		t.Fatal("UpdateTiles with a 5-byte leaf hash: no error")
	}
}

// Three levels: 70000 leaves fill 273 level-0 tiles, one level-1 tile and part of level 2.
func TestProofsThreeLevels(t *testing.T) {
	store := newMemTiles()
	batches := make([]int, 70)
	for i := range batches {
		batches[i] = 1000
	}
	batches = append(batches, 1)
	leaves := appendBatches(t, store, batches)
	size := int64(len(leaves))
	roots := map[int64][]byte{}
	root := func(n int64) []byte {
		if r, ok := roots[n]; ok {
			return r
		}
		roots[n] = referenceRoot(leaves[:n])
		return roots[n]
	}
	r := rapid.Int64Range(1, size)
	rapid.Check(t, func(rt *rapid.T) {
		to := r.Draw(rt, "to")
		from := rapid.Int64Range(0, to).Draw(rt, "from")
		index := rapid.Int64Range(0, to-1).Draw(rt, "index")
		checkProofs(rt, store, leaves, index, from, to, root)
	})
	for _, to := range []int64{65535, 65536, 65537, 70000, size} {
		for _, from := range []int64{1, 255, 256, 257, 65535, 65536} {
			if from <= to {
				checkProofs(t, store, leaves, from-1, from, to, root)
			}
		}
	}
	store.reads = 0
	if _, err := ledger.InclusionProof(12345, size, store); err != nil {
		t.Fatal(err)
	}
	if store.reads > 6 {
		t.Fatalf("inclusion proof at %d read %d tiles; want O(log n)", size, store.reads)
	}
}

func TestProofsEveryPairSmall(t *testing.T) {
	store := newMemTiles()
	leaves := appendBatches(t, store, []int{100, 200, 300, 1, 99})
	roots := map[int64][]byte{}
	root := func(n int64) []byte {
		if _, ok := roots[n]; !ok {
			roots[n] = referenceRoot(leaves[:n])
		}
		return roots[n]
	}
	for to := int64(1); to <= int64(len(leaves)); to += 7 {
		for from := int64(0); from <= to; from += 3 {
			checkProofs(t, store, leaves, from%to, from, to, root)
		}
	}
}

func checkProofs(tb tb, store *memTiles, leaves [][]byte, index, from, to int64, root func(int64) []byte) {
	tb.Helper()
	got, err := ledger.RootFromTiles(to, store)
	if err != nil {
		tb.Fatalf("RootFromTiles(%d): %v", to, err)
	}
	if !bytes.Equal(got, root(to)) {
		tb.Fatalf("RootFromTiles(%d) = %x, want %x", to, got, root(to))
	}
	p, err := ledger.InclusionProof(index, to, store)
	if err != nil {
		tb.Fatalf("InclusionProof(%d, %d): %v", index, to, err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(to), leaves[index], p, root(to)); err != nil {
		tb.Fatalf("InclusionProof(%d, %d) does not verify: %v", index, to, err)
	}
	c, err := ledger.ConsistencyProof(from, to, store)
	if err != nil {
		tb.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	var fromRoot []byte
	if from > 0 {
		fromRoot = root(from)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(from), uint64(to), c, fromRoot, root(to)); err != nil {
		tb.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", from, to, err)
	}

	// With only the tiles InclusionTiles and ConsistencyTiles plan (fetched in one query by
	// the server), the same proofs, roots and leaf come out.
	only := func(keys []ledger.TileKey, err error) ledger.TileMap {
		tb.Helper()
		if err != nil {
			tb.Fatalf("planning tiles: %v", err)
		}
		m := ledger.TileMap{}
		for _, k := range keys {
			m[k] = store.tiles[[2]int64{k.Level, k.Index}]
		}
		return m
	}
	planned := only(ledger.InclusionTiles(index, to))
	if p2, err := ledger.InclusionProof(index, to, planned); err != nil || !slices.EqualFunc(p2, p, bytes.Equal) {
		tb.Fatalf("InclusionProof(%d, %d) over the planned tiles = %x, %v; want %x", index, to, p2, err, p)
	}
	if r2, err := ledger.RootFromTiles(to, planned); err != nil || !bytes.Equal(r2, got) {
		tb.Fatalf("RootFromTiles(%d) over the inclusion tiles: %v", to, err)
	}
	if tile := planned[ledger.TileKey{Level: 0, Index: index / ledger.TileWidth}]; len(tile) < int(index%ledger.TileWidth+1)*ledger.HashSize {
		tb.Fatalf("the inclusion tiles of leaf %d miss its level-0 tile", index)
	}
	// With a cache of subtree hashes shared by every proof of this store, only the tiles of
	// hashes not cached yet are read, and the same proofs come out.
	cached := func(indexes []int64, err error) cachedTiles {
		tb.Helper()
		if err != nil {
			tb.Fatalf("planning hashes: %v", err)
		}
		var need []int64
		for _, x := range indexes {
			if _, ok := store.cache[x]; !ok || !ledger.Cacheable(x) {
				need = append(need, x)
			}
		}
		return cachedTiles{only(ledger.TilesFor(need), nil), store.cache}
	}
	withCache := cached(ledger.InclusionHashes(index, to))
	if p2, err := ledger.InclusionProof(index, to, withCache); err != nil || !slices.EqualFunc(p2, p, bytes.Equal) {
		tb.Fatalf("InclusionProof(%d, %d) with the cache = %x, %v; want %x", index, to, p2, err, p)
	}
	if r2, err := ledger.RootFromTiles(to, withCache); err != nil || !bytes.Equal(r2, got) {
		tb.Fatalf("RootFromTiles(%d) with the cache: %x, %v", to, r2, err)
	}
	withCache = cached(ledger.ConsistencyHashes(from, to))
	if c2, err := ledger.ConsistencyProof(from, to, withCache); err != nil || !slices.EqualFunc(c2, c, bytes.Equal) {
		tb.Fatalf("ConsistencyProof(%d, %d) with the cache = %x, %v; want %x", from, to, c2, err, c)
	}
	planned = only(ledger.ConsistencyTiles(from, to))
	if c2, err := ledger.ConsistencyProof(from, to, planned); err != nil || !slices.EqualFunc(c2, c, bytes.Equal) {
		tb.Fatalf("ConsistencyProof(%d, %d) over the planned tiles = %x, %v; want %x", from, to, c2, err, c)
	}
	if r2, err := ledger.RootFromTiles(to, planned); err != nil || !bytes.Equal(r2, got) {
		tb.Fatalf("RootFromTiles(%d) over the consistency tiles: %v", to, err)
	}
}

func TestProofErrors(t *testing.T) {
	store := newMemTiles()
	appendBatches(t, store, []int{10})
	if _, err := ledger.InclusionProof(10, 10, store); err == nil {
		t.Fatal("inclusion proof of leaf 10 in a tree of 10: no error")
	}
	if _, err := ledger.ConsistencyProof(5, 4, store); err == nil {
		t.Fatal("consistency proof from 5 to 4: no error")
	}
	// The store holds 10 leaves; a proof for 300 needs tiles it does not have.
	if _, err := ledger.InclusionProof(3, 300, store); err == nil {
		t.Fatal("inclusion proof beyond the stored tree: no error")
	}
	if got, _ := ledger.RootFromTiles(0, store); !bytes.Equal(got, sha256.New().Sum(nil)) {
		t.Fatalf("root of the empty tree = %x, want SHA-256 of nothing", got)
	}
}

func TestTilePaths(t *testing.T) {
	for _, c := range []struct {
		addr ledger.TileAddr
		path string
	}{
		{ledger.TileAddr{Level: 0, Index: 0, Width: 256}, "tile/0/000"},
		{ledger.TileAddr{Level: 1, Index: 5, Width: 3}, "tile/1/005.p/3"},
		{ledger.TileAddr{Level: 0, Index: 1234067, Width: 256}, "tile/0/x001/x234/067"},
		{ledger.TileAddr{Level: 63, Index: 1000, Width: 255}, "tile/63/x001/000.p/255"},
		{ledger.TileAddr{Entries: true, Index: 1234067, Width: 17}, "tile/entries/x001/x234/067.p/17"},
		{ledger.TileAddr{Entries: true, Index: 999, Width: 256}, "tile/entries/999"},
	} {
		if got := c.addr.Path(); got != c.path {
			t.Errorf("%+v.Path() = %q, want %q", c.addr, got, c.path)
		}
		got, err := ledger.ParseTilePath(c.path)
		if err != nil || got != c.addr {
			t.Errorf("ParseTilePath(%q) = %+v, %v; want %+v", c.path, got, err, c.addr)
		}
	}
	if got, want := ledger.TilePath(2, 7, 256), "tile/2/007"; got != want {
		t.Errorf("TilePath = %q, want %q", got, want)
	}
	if got, want := ledger.EntriesPath(7, 9), "tile/entries/007.p/9"; got != want {
		t.Errorf("EntriesPath = %q, want %q", got, want)
	}
	for _, bad := range []string{
		"tile/0/1", "tile/0/0001", "tile/0/x000/001", "tile/0/001/002", "tile/00/001",
		"tile/64/001", "tile/-1/001", "tile/0/001.p/0", "tile/0/001.p/256", "tile/0/001.p/01",
		"tile/data/001", "tile/8/0/001", "tile/0/x01/001", "tile/0/", "tile/entries", "/tile/0/000",
		"tile/0/x999/x999/x999/x999/x999/x999/999",
	} {
		if a, err := ledger.ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want an error", bad, a)
		}
	}
}

// Path and ParseTilePath are inverses over every address, and differ from sumdb's layout.
func TestTilePathRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := ledger.TileAddr{
			Entries: rapid.Bool().Draw(t, "entries"),
			Index:   rapid.Int64Range(0, 1<<62).Draw(t, "index"),
			Width:   rapid.IntRange(1, 256).Draw(t, "width"),
		}
		if !a.Entries {
			a.Level = rapid.Int64Range(0, 63).Draw(t, "level")
		}
		got, err := ledger.ParseTilePath(a.Path())
		if err != nil || got != a {
			t.Fatalf("ParseTilePath(%q) = %+v, %v; want %+v", a.Path(), got, err, a)
		}
		if !a.Entries && a.Level < 30 {
			sumdb := tlog.Tile{H: 8, L: int(a.Level), N: a.Index, W: a.Width}.Path()
			if want := "tile/8/" + a.Path()[len("tile/"):]; sumdb != want {
				t.Fatalf("sumdb path %q, ours %q: the element encoding should agree", sumdb, a.Path())
			}
		}
	})
}

func TestEntryBundle(t *testing.T) {
	entries := [][]byte{[]byte(`{"seq":1}`), {}, bytes.Repeat([]byte("x"), ledger.MaxEntrySize)}
	b, err := ledger.EncodeEntryBundle(entries)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b[:2], []byte{0, 9}; !bytes.Equal(got, want) {
		t.Fatalf("first length prefix = %x, want big-endian %x", got, want)
	}
	back, err := ledger.DecodeEntryBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(entries) {
		t.Fatalf("decoded %d entries, want %d", len(back), len(entries))
	}
	for i := range entries {
		if !bytes.Equal(back[i], entries[i]) {
			t.Fatalf("entry %d differs after round trip", i)
		}
	}
	if _, err := ledger.EncodeEntryBundle([][]byte{make([]byte, ledger.MaxEntrySize+1)}); err == nil {
		t.Fatal("EncodeEntryBundle of a 65536-byte entry: no error")
	}
	if _, err := ledger.DecodeEntryBundle(b[:len(b)-1]); err == nil {
		t.Fatal("DecodeEntryBundle of a cut bundle: no error")
	}
	if _, err := ledger.DecodeEntryBundle([]byte{0}); err == nil {
		t.Fatal("DecodeEntryBundle of one byte: no error")
	}
}
