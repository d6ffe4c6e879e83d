package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/postgres/pgtest"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/storetest"
)

// testDSN returns the database CI provides (scripts/with-postgres sets it) or skips: a
// laptop without PostgreSQL still runs every other package's tests.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SCIMTRAIL_TEST_POSTGRES")
	if dsn == "" {
		tb.Skip("SCIMTRAIL_TEST_POSTGRES is not set; run under scripts/with-postgres to test the postgres backend")
	}
	return dsn
}

// MustCreateSchema returns a DSN for a fresh, empty schema of this test (skipping when no
// test database is configured).
func MustCreateSchema(tb testing.TB) string {
	tb.Helper()
	testDSN(tb)
	return pgtest.Schema(tb, "t")
}

// MustOpenDB opens a store on a fresh schema; it is closed before the schema is dropped.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return mustOpen(tb, MustCreateSchema(tb), postgres.Options{})
}

func mustOpen(tb testing.TB, dsn string, opts postgres.Options) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpen(t *testing.T) {
	dsn := MustCreateSchema(t)
	ctx := t.Context()

	// Replicas starting together: the advisory lock lets one migrate and the others find
	// the schema current.
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, 3)
	errs := make([]error, 3)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(ctx, dsn, postgres.Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
		if err := dbs[i].Ping(ctx); err != nil {
			t.Fatalf("Ping #%d: %v", i, err)
		}
	}

	t.Run("PingNoticesMissingMigration", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id > 0`); err != nil {
			t.Fatal(err)
		}
		err = dbs[0].Ping(ctx)
		if got := scimtrail.ErrorCode(err); got != scimtrail.EINTERNAL || !strings.Contains(scimtrail.ErrorMessage(err), "migrate") {
			t.Fatalf("Ping after losing a migration = %v, want an EINTERNAL that says to migrate", err)
		}
	})

	t.Run("BadDSN", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://[::1", postgres.Options{})
		if got := scimtrail.ErrorCode(err); got != scimtrail.EINVALID {
			t.Fatalf("Open(bad dsn) code = %q (%v), want %q", got, err, scimtrail.EINVALID)
		}
	})
}

// appendOne appends one entry after the current head, the way the write path does.
func appendOne(ctx context.Context, tx scimtrail.Tx, tenant string) error {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return err
	}
	seq := head.Size + 1
	e := scimtrail.StoredEntry{Tenant: tenant, Seq: seq, Time: time.Now().UTC().Truncate(time.Microsecond),
		Action: "test.appended", Body: []byte(`{}`), LeafHash: make([]byte, 32)}
	return tx.AppendEntries(ctx, []scimtrail.StoredEntry{e}, scimtrail.LedgerHead{Tenant: tenant, Size: seq, Range: make([]byte, 32)})
}

func TestUpdateSerialisesTenantAcrossReplicas(t *testing.T) {
	dsn := MustCreateSchema(t)
	var batches atomic.Int64
	opts := postgres.Options{OnBatch: func(n int) { batches.Add(int64(n)) }}
	replicas := []*postgres.DB{mustOpen(t, dsn, opts), mustOpen(t, dsn, opts)}
	ctx := t.Context()

	const perReplica = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*perReplica*2)
	for _, db := range replicas {
		for i := range perReplica {
			// Two tenants interleaved: each must stay gap-free on its own.
			tenant := []string{"acme", "globex"}[i%2]
			wg.Go(func() {
				errs <- db.Update(ctx, tenant, func(tx scimtrail.Tx) error {
					// A pause inside the transaction widens the window in which an
					// unserialised writer would read the same head.
					if err := appendOne(ctx, tx, tenant); err != nil {
						return err
					}
					time.Sleep(time.Millisecond)
					return nil
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	if got, want := batches.Load(), int64(2*perReplica); got != want {
		t.Errorf("OnBatch counted %d commands, want %d", got, want)
	}
	err := replicas[1].View(ctx, func(tx scimtrail.ReadTx) error {
		for _, tenant := range []string{"acme", "globex"} {
			head, err := tx.LedgerHead(ctx, tenant)
			if err != nil {
				return err
			}
			if head.Size != perReplica {
				t.Errorf("%s head size = %d, want %d", tenant, head.Size, perReplica)
			}
			entries, err := tx.Entries(ctx, tenant, 0, 100, scimtrail.EntryFilter{})
			if err != nil {
				return err
			}
			for i, e := range entries {
				if e.Seq != int64(i+1) {
					t.Fatalf("%s entry %d has seq %d", tenant, i, e.Seq)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpdate(t *testing.T) {
	db := MustOpenDB(t)
	ctx := t.Context()

	t.Run("FnErrorRollsBack", func(t *testing.T) {
		sentinel := errors.New("changed my mind")
		err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
			if err := tx.InsertTenant(ctx, scimtrail.Tenant{ID: "acme", Name: "Acme", Created: time.Now()}); err != nil {
				return err
			}
			if err := appendOne(ctx, tx, "acme"); err != nil {
				return err
			}
			return sentinel
		})
		if err != sentinel {
			t.Fatalf("Update = %v, want fn's error unchanged", err)
		}
		err = db.View(ctx, func(tx scimtrail.ReadTx) error {
			if _, err := tx.Tenant(ctx, "acme"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
				t.Errorf("tenant after rollback: %v, want ENOTFOUND", err)
			}
			head, err := tx.LedgerHead(ctx, "acme")
			if err != nil || head.Size != 0 {
				t.Errorf("head after rollback = %+v, %v; want size 0", head, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ConflictKeepsTransactionUsable", func(t *testing.T) {
		// The write path may answer one conflict and carry on in the same transaction
		// (a bulk request): a unique violation must not abort it.
		now := time.Date(2026, 11, 29, 6, 40, 0, 123456000, time.UTC)
		u := func(id, name string) scimtrail.Resource {
			return scimtrail.Resource{Tenant: "acme", Type: scimtrail.UserResource, ID: id, UserName: name,
				UserNameKey: strings.ToLower(name), Active: true, Created: now, LastModified: now, Version: 1}
		}
		err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
			if err := tx.InsertResource(ctx, u("u1", "alice")); err != nil {
				return err
			}
			err := tx.InsertResource(ctx, u("u2", "ALICE"))
			if scimtrail.ErrorCode(err) != scimtrail.ECONFLICT || !strings.Contains(scimtrail.ErrorMessage(err), `"ALICE"`) {
				t.Errorf("second alice: %v, want ECONFLICT naming the userName", err)
			}
			if scimtrail.ErrorScimType(err) != scimtrail.ScimUniqueness {
				t.Errorf("second alice scimType = %q, want %q", scimtrail.ErrorScimType(err), scimtrail.ScimUniqueness)
			}
			err = tx.InsertResource(ctx, u("u1", "bob"))
			if scimtrail.ErrorCode(err) != scimtrail.ECONFLICT || !strings.Contains(scimtrail.ErrorMessage(err), `"u1"`) {
				t.Errorf("second u1: %v, want ECONFLICT naming the id", err)
			}
			if err := tx.InsertResource(ctx, u("u3", "carol")); err != nil {
				return err
			}
			renamed := u("u3", "Alice")
			renamed.UserNameKey = "alice"
			if err := tx.UpdateResource(ctx, renamed); scimtrail.ErrorCode(err) != scimtrail.ECONFLICT {
				t.Errorf("renaming carol to alice: %v, want ECONFLICT", err)
			}
			return appendOne(ctx, tx, "acme")
		})
		if err != nil {
			t.Fatalf("Update after conflicts: %v", err)
		}
		err = db.View(ctx, func(tx scimtrail.ReadTx) error {
			id, err := tx.UserIDByNameKey(ctx, "acme", "carol")
			if err != nil || id != "u3" {
				t.Errorf("carol = %q, %v; want u3 committed", id, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AppendEntriesRefusesGap", func(t *testing.T) {
		err := db.Update(ctx, "gaps", func(tx scimtrail.Tx) error {
			e := scimtrail.StoredEntry{Tenant: "gaps", Seq: 2, Time: time.Now(), Action: "x", LeafHash: make([]byte, 32)}
			return tx.AppendEntries(ctx, []scimtrail.StoredEntry{e}, scimtrail.LedgerHead{Tenant: "gaps", Size: 2})
		})
		if scimtrail.ErrorCode(err) != scimtrail.EINTERNAL || err == nil {
			t.Fatalf("appending seq 2 to an empty log: %v, want an error", err)
		}
	})
}

func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(tb testing.TB) scimtrail.Store { return MustOpenDB(tb) })
}
