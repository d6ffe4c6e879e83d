package postgres_test

import (
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
