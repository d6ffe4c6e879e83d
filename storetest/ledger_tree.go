package storetest

import (
	"bytes"
	"context"
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
