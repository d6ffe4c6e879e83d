package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
)

// testLedgerTree covers tiles, checkpoints and settings (store_ledger.go).
func testLedgerTree(t *testing.T, open func(tb testing.TB) scimtrail.Store) {
	t.Run("TilesUpsertAndIsolate", func(t *testing.T) {
		s := open(t)
		short, wide := bytes.Repeat([]byte{1}, 64), bytes.Repeat([]byte{2}, 96)
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.PutTiles(ctx, "acme", []scimtrail.Tile{{Level: 0, Index: 3, Data: short}, {Level: 1, Index: 0, Data: short}})
		})
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.PutTiles(ctx, "acme", []scimtrail.Tile{{Level: 0, Index: 3, Data: wide}})
		})
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			for _, c := range []struct {
				tenant       string
				level, index int64
				want         []byte
			}{{"acme", 0, 3, wide}, {"acme", 1, 0, short}, {"acme", 0, 4, nil}, {"globex", 0, 3, nil}} {
				got, err := tx.ReadTile(ctx, c.tenant, c.level, c.index)
				if err != nil || !bytes.Equal(got, c.want) {
					t.Errorf("ReadTile(%s, %d, %d) = %d bytes, %v; want %d bytes", c.tenant, c.level, c.index, len(got), err, len(c.want))
				}
			}
			// The batched read: stored positions only, each with its own data.
			at := []scimtrail.Tile{{Level: 0, Index: 3}, {Level: 1, Index: 0}, {Level: 0, Index: 4}, {Level: 1, Index: 3}}
			got, err := tx.ReadTiles(ctx, "acme", at)
			if err != nil || len(got) != 2 {
				t.Fatalf("ReadTiles(acme) = %d tiles, %v; want 2", len(got), err)
			}
			for _, tl := range got {
				want := map[[2]int64][]byte{{0, 3}: wide, {1, 0}: short}[[2]int64{tl.Level, tl.Index}]
				if !bytes.Equal(tl.Data, want) {
					t.Errorf("ReadTiles: tile %d/%d = %d bytes, want %d", tl.Level, tl.Index, len(tl.Data), len(want))
				}
			}
			if got, err := tx.ReadTiles(ctx, "globex", at); err != nil || len(got) != 0 {
				t.Errorf("ReadTiles(globex) = %d tiles, %v; want none", len(got), err)
			}
			return nil
		})
	})
	t.Run("CheckpointOneRootPerSize", func(t *testing.T) {
		s := open(t)
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			return tx.AppendEntries(ctx, []scimtrail.StoredEntry{entry("acme", 1, base, "user.created", "t", "u")}, headFor("acme", 1))
		})
		if got := uncheckpointed(t, s); len(got) != 1 || got[0].Tenant != "acme" || got[0].Size != 1 {
			t.Fatalf("UncheckpointedHeads = %+v, want acme at 1", got)
		}
		var first, second bool
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			var err error
			first, err = tx.InsertCheckpoint(ctx, scimtrail.StoredCheckpoint{Tenant: "acme", Size: 1, Root: []byte("r1"), Note: []byte("n1"), Signed: base.Add(time.Minute)})
			if err != nil {
				return err
			}
			second, err = tx.InsertCheckpoint(ctx, scimtrail.StoredCheckpoint{Tenant: "acme", Size: 1, Root: []byte("r2"), Note: []byte("n2")})
			return err
		})
		if !first || second {
			t.Fatalf("InsertCheckpoint twice for size 1 = %v, %v; want true, false", first, second)
		}
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			cps, err := tx.Checkpoints(ctx, "acme")
			if err != nil || len(cps) != 1 || string(cps[0].Root) != "r1" || string(cps[0].Note) != "n1" {
				t.Errorf("Checkpoints = %+v, %v; want the first only", cps, err)
			}
			latest, err := tx.LatestCheckpoint(ctx, "acme")
			if err != nil || latest.Size != 1 || !latest.Signed.Equal(base.Add(time.Minute)) {
				t.Errorf("LatestCheckpoint = %+v, %v; want size 1 signed at %v", latest, err, base.Add(time.Minute))
			}
			if len(cps) == 1 && !cps[0].Signed.Equal(base.Add(time.Minute)) {
				t.Errorf("Checkpoints[0].Signed = %v, want %v", cps[0].Signed, base.Add(time.Minute))
			}
			_, err = tx.LatestCheckpoint(ctx, "globex")
			wantCode(t, err, scimtrail.ENOTFOUND, "LatestCheckpoint of a log without one")
			hashes, err := tx.LeafHashes(ctx, "acme", 0, 0)
			if err != nil || len(hashes) != 1 || len(hashes[0]) != 32 {
				t.Errorf("LeafHashes = %d hashes, %v", len(hashes), err)
			}
			return nil
		})
		if got := uncheckpointed(t, s); len(got) != 0 {
			t.Errorf("UncheckpointedHeads after signing = %+v, want none", got)
		}
	})
	t.Run("ScanEntryHashesRawAndPruned", func(t *testing.T) {
		s := open(t)
		var want []scimtrail.StoredEntry
		for seq := int64(1); seq <= 5; seq++ {
			want = append(want, entry("acme", seq, base, "user.created", "t", "u"))
		}
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			if err := tx.AppendEntries(ctx, want, headFor("acme", 5)); err != nil {
				return err
			}
			other := entry("globex", 1, base, "user.created", "t", "u")
			return tx.AppendEntries(ctx, []scimtrail.StoredEntry{other}, headFor("globex", 1))
		})
		update(t, s, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
			_, err := tx.PruneEntries(ctx, "acme", 1, 2)
			return err
		})
		type row struct {
			seq        int64
			body, leaf []byte
		}
		scan := func(after int64, limit int) []row {
			var got []row
			view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
				return tx.ScanEntryHashes(ctx, "acme", after, limit, func(seq int64, body, leaf []byte) error {
					// The slices are only lent for the call: keep copies.
					got = append(got, row{seq, bytes.Clone(body), bytes.Clone(leaf)})
					return nil
				})
			})
			return got
		}
		got := scan(0, 0)
		if len(got) != 5 {
			t.Fatalf("ScanEntryHashes(after 0, all) = %d rows, want 5 (acme's only)", len(got))
		}
		for i, r := range got {
			w := want[i]
			wantBody := w.Body
			if w.Seq <= 2 {
				wantBody = nil
			}
			if r.seq != w.Seq || !bytes.Equal(r.body, wantBody) || (r.body == nil) != (wantBody == nil) || !bytes.Equal(r.leaf, w.LeafHash) {
				t.Errorf("row %d = seq %d body %q leaf %x; want seq %d body %q leaf %x", i, r.seq, r.body, r.leaf, w.Seq, wantBody, w.LeafHash)
			}
		}
		if page := scan(2, 2); len(page) != 2 || page[0].seq != 3 || page[1].seq != 4 {
			t.Errorf("ScanEntryHashes(after 2, limit 2) = %+v, want seqs 3 and 4", page)
		}
		stop := errors.New("stop")
		n := 0
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			err := tx.ScanEntryHashes(ctx, "acme", 0, 0, func(int64, []byte, []byte) error { n++; return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("ScanEntryHashes with fn failing = %v after %d calls; want fn's error after 1", err, n)
			}
			return nil
		})
	})
	t.Run("SettingsKeepTheFirstValue", func(t *testing.T) {
		s := open(t)
		update(t, s, scimtrail.SystemLog, func(ctx context.Context, tx scimtrail.Tx) error {
			if ok, err := tx.InsertSetting(ctx, "install_id", "a"); !ok || err != nil {
				t.Errorf("first InsertSetting = %v, %v", ok, err)
			}
			if ok, err := tx.InsertSetting(ctx, "install_id", "b"); ok || err != nil {
				t.Errorf("second InsertSetting = %v, %v; want false", ok, err)
			}
			return nil
		})
		view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
			if v, err := tx.Setting(ctx, "install_id"); v != "a" || err != nil {
				t.Errorf("Setting = %q, %v; want a", v, err)
			}
			_, err := tx.Setting(ctx, "nope")
			wantCode(t, err, scimtrail.ENOTFOUND, "Setting of an unset key")
			return nil
		})
	})
}

func uncheckpointed(t *testing.T, s scimtrail.Store) []scimtrail.LedgerHead {
	t.Helper()
	var hs []scimtrail.LedgerHead
	view(t, s, func(ctx context.Context, tx scimtrail.ReadTx) error {
		var err error
		hs, err = tx.UncheckpointedHeads(ctx)
		return err
	})
	return hs
}
