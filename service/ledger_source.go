package service

import (
	"context"
	"io"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// sourcePage is how many entries the log source reads in one read transaction. Big enough
// that the per-transaction and per-tile-read costs vanish, small enough (a few MB) that two
// pages in flight stay cheap.
const sourcePage = 16384

// LogSource streams a tenant's stored entries in seq order for ledger.Verify and for export,
// reading pages in a goroutine of its own so that the database scan of the next page runs on
// one core while the verifier hashes this one on the other. Each page is one read
// transaction through ScanEntryHashes (seq, body, leaf hash, nothing decoded), copied into
// one reused buffer, so a record costs no allocation. Each record also carries the leaf hash
// of the tree's level-0 tile (Record.TileHash) when that tile is stored, so that an entry
// rewritten together with its leaf hash is named exactly.
//
// Close it when done, also after an early stop: it ends the reader goroutine.
type LogSource struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	pages  chan *sourceBuf
	free   chan *sourceBuf
	cur    *sourceBuf
	i      int
	err    error
	done   chan struct{}
}

// sourceBuf is one page: records whose slices point into data.
type sourceBuf struct {
	data  []byte
	recs  []ledger.Record
	spans []span
	err   error
}

// span locates one record's body and leaf hash in sourceBuf.data.
type span struct{ body, leaf, end int }

// NewLogSource starts reading the tenant's entries with after < seq <= last from store
// (last <= 0: to the end, entries appended meanwhile too). An export bounds it by the size
// its manifest states, so a live log's new entries do not spill into it.
func NewLogSource(parent context.Context, store scimtrail.Store, tenant string, after, last int64) *LogSource {
	ctx, cancel := context.WithCancel(parent)
	s := &LogSource{parent: parent, ctx: ctx, cancel: cancel, pages: make(chan *sourceBuf, 1), free: make(chan *sourceBuf, 2), done: make(chan struct{})}
	s.free <- &sourceBuf{}
	s.free <- &sourceBuf{}
	go s.read(store, tenant, after, last)
	return s
}

func (s *LogSource) read(store scimtrail.Store, tenant string, after, last int64) {
	defer close(s.done)
	defer close(s.pages)
	for {
		var b *sourceBuf
		select {
		case b = <-s.free:
		case <-s.ctx.Done():
			return
		}
		limit := int64(sourcePage)
		if last > 0 {
			limit = min(limit, last-after)
		}
		if limit <= 0 {
			return
		}
		b.err = store.View(s.ctx, func(tx scimtrail.ReadTx) error { return b.fill(s.ctx, tx, tenant, after, int(limit)) })
		if b.err != nil {
			b.recs = b.recs[:0] // a page cut short by an error is not handed on
		}
		n := len(b.recs)
		if n > 0 {
			after = b.recs[n-1].Seq
		}
		select {
		case s.pages <- b:
		case <-s.ctx.Done():
			return
		}
		if b.err != nil || int64(n) < limit {
			return
		}
	}
}

// fill reads one page into b: the rows first (offsets into data, as data may still grow),
// then the slices, then the tile hashes.
func (b *sourceBuf) fill(ctx context.Context, tx scimtrail.ReadTx, tenant string, after int64, limit int) error {
	b.data, b.recs, b.spans = b.data[:0], b.recs[:0], b.spans[:0]
	err := tx.ScanEntryHashes(ctx, tenant, after, limit, func(seq int64, body, leaf []byte) error {
		sp := span{body: len(b.data)}
		b.data = append(b.data, body...)
		sp.leaf = len(b.data)
		b.data = append(b.data, leaf...)
		sp.end = len(b.data)
		b.spans = append(b.spans, sp)
		b.recs = append(b.recs, ledger.Record{Seq: seq, Pruned: body == nil})
		return nil
	})
	if err != nil {
		return err
	}
	for i, sp := range b.spans {
		r := &b.recs[i]
		if !r.Pruned {
			r.Body = b.data[sp.body:sp.leaf:sp.leaf]
		}
		r.LeafHash = b.data[sp.leaf:sp.end:sp.end]
	}
	if len(b.recs) == 0 {
		return nil
	}
	// The level-0 tiles of the page's positions (not its claimed seqs: a reordering shows
	// up as such, not as a tile mismatch).
	first := b.recs[0].Seq - 1
	var tile []byte
	tileN := int64(-1)
	for i := range b.recs {
		pos := first + int64(i)
		if pos < 0 {
			continue
		}
		if n := pos / ledger.TileWidth; n != tileN {
			if tile, err = tx.ReadTile(ctx, tenant, 0, n); err != nil {
				return err
			}
			tileN = n
		}
		off := pos % ledger.TileWidth * ledger.HashSize
		if int64(len(tile)) >= off+ledger.HashSize {
			b.recs[i].TileHash = tile[off : off+ledger.HashSize : off+ledger.HashSize]
		}
	}
	return nil
}

// Next returns the next record; its slices stay valid until the following call.
func (s *LogSource) Next() (ledger.Record, error) {
	for s.cur == nil || s.i >= len(s.cur.recs) {
		if s.cur != nil {
			if s.cur.err != nil {
				s.err = s.cur.err
			}
			s.free <- s.cur // room: at most two buffers exist
			s.cur = nil
		}
		if s.err != nil {
			return ledger.Record{}, s.err
		}
		b, ok := <-s.pages
		if !ok {
			if err := s.parent.Err(); err != nil {
				s.err = err
				return ledger.Record{}, err
			}
			s.err = io.EOF
			return ledger.Record{}, io.EOF
		}
		s.cur, s.i = b, 0
	}
	r := s.cur.recs[s.i]
	s.i++
	return r, nil
}

// Close stops the reader and waits for it.
func (s *LogSource) Close() {
	s.cancel()
	<-s.done
}
