package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/sqlite"
)

// TestLogSource reads a log of 600 entries (three level-0 tiles) back through LogSource:
// every record in seq order with its body, leaf hash and tile hash; bounded by after and
// last; and closed early without hanging.
func TestLogSource(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "log.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	for i := range 6 {
		entries := make([]scimtrail.Entry, 100)
		for j := range entries {
			entries[j] = scimtrail.Entry{Action: "user.created", Target: &scimtrail.Target{Type: "User", ID: fmt.Sprintf("u-%d-%d", i, j)}}
		}
		if err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
			_, err := appendEntries(ctx, tx, "acme", o, time.Unix(0, 0), entries...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(after, last int64) []ledger.Record {
		t.Helper()
		src := NewLogSource(ctx, db, "acme", after, last)
		defer src.Close()
		var out []ledger.Record
		for {
			r, err := src.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			r.Body, r.LeafHash, r.TileHash = bytes.Clone(r.Body), bytes.Clone(r.LeafHash), bytes.Clone(r.TileHash)
			out = append(out, r)
		}
	}
	all := read(0, 0)
	if len(all) != 600 {
		t.Fatalf("read %d records, want 600", len(all))
	}
	for i, r := range all {
		if r.Seq != int64(i+1) || !bytes.Equal(ledger.LeafHash(r.Body), r.LeafHash) || !bytes.Equal(r.TileHash, r.LeafHash) {
			t.Fatalf("record %d: seq %d, leaf hash of body %v, tile hash equal %v", i, r.Seq,
				bytes.Equal(ledger.LeafHash(r.Body), r.LeafHash), bytes.Equal(r.TileHash, r.LeafHash))
		}
	}
	if got := read(250, 260); len(got) != 10 || got[0].Seq != 251 || got[9].Seq != 260 {
		t.Errorf("after 250, last 260: %d records from %d", len(got), got[0].Seq)
	}
	if got := read(590, 0); len(got) != 10 || got[0].Seq != 591 {
		t.Errorf("after 590: %d records", len(got))
	}
	// An early stop: Close returns (the reader goroutine ends) without reading on.
	src := NewLogSource(ctx, db, "acme", 0, 0)
	if _, err := src.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { src.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close after one record did not return")
	}
	// A cancelled context is an error, never a short log.
	cctx, cancel := context.WithCancel(ctx)
	src = NewLogSource(cctx, db, "acme", 0, 0)
	defer src.Close()
	cancel()
	for {
		_, err := src.Next()
		if err == io.EOF {
			t.Fatal("a cancelled read ended as if the log ended")
		}
		if err != nil {
			break
		}
	}
}
