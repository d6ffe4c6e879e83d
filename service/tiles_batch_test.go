package service

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/sqlite"
)

// TestGroupCommitTiles appends from many concurrent commands, which SQLite's writer groups
// into batches with tiles buffered per batch, while every third command fails after
// appending (its SAVEPOINT rolls back). The stored tiles must hold exactly the committed
// leaf hashes: a failed command's buffered tiles must not survive it.
func TestGroupCommitTiles(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	errFail := errors.New("fail after appending")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 40 {
				err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
					e := scimtrail.Entry{Action: "user.created", Target: &scimtrail.Target{Type: "User", ID: fmt.Sprintf("u-%d-%d", w, i)}}
					if _, err := appendEntries(ctx, tx, "acme", o, time.Unix(0, 0), e, e); err != nil {
						return err
					}
					if i%3 == 0 {
						return errFail
					}
					return nil
				})
				if err != nil && !errors.Is(err, errFail) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	err = db.View(ctx, func(tx scimtrail.ReadTx) error {
		head, err := tx.LedgerHead(ctx, "acme")
		if err != nil {
			return err
		}
		if want := int64(16 * 26 * 2); head.Size != want {
			t.Errorf("head size %d, want %d", head.Size, want)
		}
		leaves, err := tx.LeafHashes(ctx, "acme", 0, 0)
		if err != nil {
			return err
		}
		for i := int64(0); i*ledger.TileWidth < head.Size; i++ {
			tile, err := tx.ReadTile(ctx, "acme", 0, i)
			if err != nil {
				return err
			}
			want := bytes.Join(leaves[i*ledger.TileWidth:min(head.Size, (i+1)*ledger.TileWidth)], nil)
			if !bytes.Equal(tile, want) {
				t.Errorf("level-0 tile %d (%d bytes) differs from the committed leaf hashes (%d bytes)", i, len(tile), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
