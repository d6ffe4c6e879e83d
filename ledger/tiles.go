package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
)

// TileHeight is the height of a C2SP tile: a tile holds 1<<TileHeight = 256 hashes.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile, and of entries in a full entry bundle.
const TileWidth = 1 << TileHeight

// TileReader reads the stored tiles of one tenant's tree.
type TileReader interface {
	// ReadTile returns the stored hashes of the tile at level and index, concatenated: a
	// full tile of 256 hashes or the partial tile of the tree's right edge. It returns nil
	// and no error when no such tile is stored.
	ReadTile(level, index int64) ([]byte, error)
}

// TileData is one tile to store: the hashes at tree level 8·Level of nodes
// [256·Index, 256·Index+Width), concatenated. Width is 256 for a full tile; a partial tile
// is replaced by a wider one as the tree grows, so a store keeps one row per (Level, Index).
type TileData struct {
	Level int64
	Index int64
	Width int
	Data  []byte
}

// UpdateTiles returns the tiles that change when the leaves with hashes newLeaves are
// appended to a tree of oldSize leaves: at every level, each tile that completes and the new
// partial tile of the right edge, lowest level first, in the order tlog.NewTiles gives. It
// reads, through read, only the partial right-edge tile of each level that grows (at most
// one a level), so an append costs O(log n) reads whatever the tree's size.
func UpdateTiles(oldSize int64, newLeaves [][]byte, read TileReader) ([]TileData, error) {
	if oldSize < 0 {
		return nil, fmt.Errorf("update tiles: negative size %d", oldSize)
	}
	for i, h := range newLeaves {
		if len(h) != HashSize {
			return nil, fmt.Errorf("update tiles: leaf %d is %d bytes, want %d", oldSize+int64(i), len(h), HashSize)
		}
	}
	newSize := oldSize + int64(len(newLeaves))
	var out []TileData
	// fresh holds the new hashes of the current level: those of nodes
	// [oldSize>>(8·level), newSize>>(8·level)).
	fresh := newLeaves
	for level := int64(0); len(fresh) > 0; level++ {
		shift := uint(TileHeight * level)
		oldN, newN := oldSize>>shift, newSize>>shift
		if int64(len(fresh)) != newN-oldN {
			panic("ledger: bad tile arithmetic")
		}
		first := oldN / TileWidth
		prefix := int(oldN % TileWidth)
		var buf []byte
		if prefix > 0 {
			stored, err := read.ReadTile(level, first)
			if err != nil {
				return nil, fmt.Errorf("read tile %s: %w", TilePath(level, first, prefix), err)
			}
			// A wider stored tile means the store is ahead of oldSize: appending would
			// silently overwrite hashes, so refuse.
			if len(stored) != prefix*HashSize {
				return nil, fmt.Errorf("tile %d/%d is %d bytes, want %d for a tree of %d leaves", level, first, len(stored), prefix*HashSize, oldSize)
			}
			buf = make([]byte, 0, TileWidth*HashSize)
			buf = append(buf, stored...)
		}
		var parents [][]byte
		index := first
		for _, h := range fresh {
			if buf == nil {
				buf = make([]byte, 0, TileWidth*HashSize)
			}
			buf = append(buf, h...)
			if len(buf) == TileWidth*HashSize {
				out = append(out, TileData{Level: level, Index: index, Width: TileWidth, Data: buf})
				parents = append(parents, tileRoot(buf))
				buf = nil
				index++
			}
		}
		if len(buf) > 0 {
			out = append(out, TileData{Level: level, Index: index, Width: len(buf) / HashSize, Data: buf})
		}
		fresh = parents
	}
	return out, nil
}

// tileRoot is the hash of the subtree of height 8 whose bottom row is a full tile.
func tileRoot(data []byte) []byte {
	row := make([][]byte, TileWidth)
	for i := range row {
		row[i] = data[i*HashSize : (i+1)*HashSize]
	}
	for len(row) > 1 {
		next := row[:len(row)/2]
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(row[2*i], row[2*i+1])
		}
		row = next
	}
	return row[0]
}

// TileAddr names a tile or an entry bundle in the C2SP tlog-tiles layout.
type TileAddr struct {
	Entries bool  // an entry bundle (tile/entries/…); Level is then 0
	Level   int64 // 0…63
	Index   int64
	Width   int // 1…256; 256 is a full tile and has no ".p/<W>" suffix
}

// Path returns the C2SP path of the tile or bundle, without a leading slash.
func (a TileAddr) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if a.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.FormatInt(a.Level, 10))
	}
	b.WriteByte('/')
	b.WriteString(indexPath(a.Index))
	if a.Width < TileWidth {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(a.Width))
	}
	return b.String()
}

// TilePath is the C2SP path of a hash tile: tile/<L>/<N>[.p/<W>], where <N> is split into
// 3-digit elements, all but the last prefixed by "x" (1234067 → x001/x234/067). This is not
// sumdb's layout (tile/8/<L>/…, tile/8/data/…), so tlog.Tile.Path must not be used.
func TilePath(level, index int64, width int) string {
	return TileAddr{Level: level, Index: index, Width: width}.Path()
}

// EntriesPath is the C2SP path of an entry bundle: tile/entries/<N>[.p/<W>].
func EntriesPath(index int64, width int) string {
	return TileAddr{Entries: true, Index: index, Width: width}.Path()
}

func indexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// ParseTilePath parses a C2SP tile or entry-bundle path (without a leading slash). It
// accepts only the canonical spelling, so each tile has exactly one URL.
func ParseTilePath(p string) (TileAddr, error) {
	bad := func() (TileAddr, error) { return TileAddr{}, fmt.Errorf("%q is not a C2SP tile path", p) }
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return bad()
	}
	var a TileAddr
	kind, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	if kind == "entries" {
		a.Entries = true
	} else {
		l, err := strconv.ParseInt(kind, 10, 64)
		if err != nil || l < 0 || l > 63 || strconv.FormatInt(l, 10) != kind {
			return bad()
		}
		a.Level = l
	}
	a.Width = TileWidth
	if body, w, ok := strings.Cut(rest, ".p/"); ok {
		width, err := strconv.Atoi(w)
		if err != nil || width < 1 || width >= TileWidth || strconv.Itoa(width) != w {
			return bad()
		}
		a.Width, rest = width, body
	}
	elems := strings.Split(rest, "/")
	for i, e := range elems {
		last := i == len(elems)-1
		if !last {
			var ok bool
			if e, ok = strings.CutPrefix(e, "x"); !ok {
				return bad()
			}
		}
		if len(e) != 3 || e[0] < '0' || e[0] > '9' || e[1] < '0' || e[1] > '9' || e[2] < '0' || e[2] > '9' {
			return bad()
		}
		if i == 0 && !last && e == "000" {
			return bad() // a leading zero element: not canonical
		}
		d := int64(e[0]-'0')*100 + int64(e[1]-'0')*10 + int64(e[2]-'0')
		if a.Index > (1<<63-1-d)/1000 {
			return bad()
		}
		a.Index = a.Index*1000 + d
	}
	return a, nil
}

// MaxEntrySize is the largest entry an entry bundle can hold: its length is a big-endian
// uint16. The write path must refuse (or split) bigger entries, or /tile/entries cannot
// serve them.
const MaxEntrySize = 1<<16 - 1

// EncodeEntryBundle returns the C2SP entry bundle of entries: each entry as a big-endian
// uint16 length followed by its bytes.
func EncodeEntryBundle(entries [][]byte) ([]byte, error) {
	n := 0
	for i, e := range entries {
		if len(e) > MaxEntrySize {
			return nil, fmt.Errorf("entry %d of bundle is %d bytes, more than %d", i, len(e), MaxEntrySize)
		}
		n += 2 + len(e)
	}
	out := make([]byte, 0, n)
	for _, e := range entries {
		out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
		out = append(out, e...)
	}
	return out, nil
}

// DecodeEntryBundle splits a C2SP entry bundle into its entries, which alias data.
func DecodeEntryBundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("entry bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, fmt.Errorf("entry bundle: entry %d is cut short", len(out))
		}
		out = append(out, data[2:2+n:2+n])
		data = data[2+n:]
	}
	if len(out) > TileWidth {
		return nil, fmt.Errorf("entry bundle holds %d entries, more than %d", len(out), TileWidth)
	}
	return out, nil
}
