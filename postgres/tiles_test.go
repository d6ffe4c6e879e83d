package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/service"
)

// TestLogsWithIncompleteTiles checks the one-query start-up tile check: a log whose last
// tile is missing or shorter than its head is reported, a complete one is not, and
// BackfillTiles repairs both.
func TestLogsWithIncompleteTiles(t *testing.T) {
	ctx := t.Context()
	dsn := MustCreateSchema(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	for _, tenant := range []string{"complete", "missing", "short"} {
		if _, _, err := svc.CreateTenant(ctx, o, tenant, tenant); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d"}`, i)
			if _, _, err := svc.CreateResource(ctx, o, tenant, scimtrail.UserResource, body); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.WithoutCancel(ctx))
	for _, q := range []string{
		`DELETE FROM ledger_tiles WHERE tenant = 'missing'`,
		`UPDATE ledger_tiles SET data = substr(data, 1, length(data) - 32) WHERE tenant = 'short' AND level = 0`,
	} {
		if _, err := raw.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	incomplete := func() []string {
		t.Helper()
		var out []string
		err := db.View(ctx, func(tx scimtrail.ReadTx) error {
			q := tx.(interface {
				LogsWithIncompleteTiles(ctx context.Context, tileWidth, hashSize int) ([]scimtrail.LedgerHead, error)
			})
			heads, err := q.LogsWithIncompleteTiles(ctx, ledger.TileWidth, ledger.HashSize)
			for _, h := range heads {
				if h.Size == 0 {
					t.Errorf("log %s reported with size 0", h.Tenant)
				}
				out = append(out, h.Tenant)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := fmt.Sprint(incomplete()); got != "[missing short]" {
		t.Fatalf("logs with incomplete tiles: %s, want [missing short]", got)
	}
	if err := svc.BackfillTiles(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := incomplete(); len(got) != 0 {
		t.Fatalf("after BackfillTiles: %v still incomplete", got)
	}
}

// TestEdgeTileAcrossReplicas checks the right-edge tile that comes with the head lock: two
// replicas create users in one tenant at the same time, past a tile boundary, so writers
// keep waiting for the lock while the other replica extends the tile; afterwards every
// level-0 tile must be exactly the stored leaf hashes.
func TestEdgeTileAcrossReplicas(t *testing.T) {
	ctx := t.Context()
	dsn := MustCreateSchema(t)
	o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	var svcs []*service.Service
	var first *postgres.DB
	for range 2 {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if first == nil {
			first = db
		}
		svcs = append(svcs, service.New(db, service.Options{}))
	}
	if _, _, err := svcs[0].CreateTenant(ctx, o, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 40 // 320 entries: past the first 256-hash tile
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"w%d-%d"}`, w, i)
				if _, _, err := svcs[w%2].CreateResource(ctx, o, "acme", scimtrail.UserResource, body); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	err := first.View(ctx, func(tx scimtrail.ReadTx) error {
		head, err := tx.LedgerHead(ctx, "acme")
		if err != nil {
			return err
		}
		if head.Size < writers*each {
			t.Fatalf("log size %d, want at least %d", head.Size, writers*each)
		}
		hashes, err := tx.LeafHashes(ctx, "acme", 0, int(head.Size))
		if err != nil {
			return err
		}
		for idx := int64(0); idx*ledger.TileWidth < head.Size; idx++ {
			end := min((idx+1)*ledger.TileWidth, head.Size)
			var want []byte
			for _, h := range hashes[idx*ledger.TileWidth : end] {
				want = append(want, h...)
			}
			got, err := tx.ReadTile(ctx, "acme", 0, idx)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				t.Errorf("tile 0/%d: %d bytes, want the %d leaf hashes (%d bytes), equal: %v", idx, len(got), end-idx*ledger.TileWidth, len(want), bytes.Equal(got, want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
