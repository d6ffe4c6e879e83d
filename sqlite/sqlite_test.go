package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/sqlite"
	"github.com/scimtrail/scimtrail/storetest"
)

// MustOpenDB opens a fresh database in a temporary directory and closes it when tb ends.
func MustOpenDB(tb testing.TB, opts sqlite.Options) *sqlite.DB {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "data", "scimtrail.db"), opts)
}

func mustOpenAt(tb testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) scimtrail.Store { return MustOpenDB(tb, sqlite.Options{}) })
}

func mustUpdate(tb testing.TB, db *sqlite.DB, tenant string, fn func(ctx context.Context, tx scimtrail.Tx) error) {
	tb.Helper()
	ctx := context.Background()
	if err := db.Update(ctx, tenant, func(tx scimtrail.Tx) error { return fn(ctx, tx) }); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

var base = time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)

func testUser(tenant, id string) scimtrail.Resource {
	return scimtrail.Resource{
		Tenant: tenant, Type: scimtrail.UserResource, ID: id, UserName: id, UserNameKey: id, Active: true,
		Schemas:    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		Attributes: json.RawMessage(`{"userName":"` + id + `"}`),
		Created:    base, LastModified: base, Version: 1,
	}
}

// appendOne appends one entry after the tenant's current head, as the write path does.
func appendOne(ctx context.Context, tx scimtrail.Tx, tenant, target string) error {
	h, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return err
	}
	body := fmt.Sprintf(`{"seq":%d,"target":%q}`, h.Size+1, target)
	leaf := sha256.Sum256(append([]byte{0}, body...))
	e := scimtrail.StoredEntry{Tenant: tenant, Seq: h.Size + 1, Time: base, Action: "user.created",
		TargetID: target, Body: []byte(body), LeafHash: leaf[:]}
	return tx.AppendEntries(ctx, []scimtrail.StoredEntry{e}, scimtrail.LedgerHead{Tenant: tenant, Size: e.Seq, Range: leaf[:]})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "scimtrail.db")
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustUpdate(t, db, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if err := tx.InsertResource(ctx, testUser("acme", "u1")); err != nil {
			return err
		}
		return appendOne(ctx, tx, "acme", "u1")
	})
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	db = mustOpenAt(t, path, sqlite.Options{})
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after reopen: %v", err)
	}
	err = db.View(t.Context(), func(tx scimtrail.ReadTx) error {
		if _, err := tx.Resource(t.Context(), "acme", scimtrail.UserResource, "u1"); err != nil {
			t.Errorf("resource lost across reopen: %v", err)
		}
		if h, err := tx.LedgerHead(t.Context(), "acme"); err != nil || h.Size != 1 {
			t.Errorf("ledger head after reopen = %+v, %v; want size 1", h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWALMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimtrail.db")
	mustOpenAt(t, path, sqlite.Options{})
	// journal_mode=WAL is persistent in the file, so a plain second connection sees it.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestPingReportsPendingMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimtrail.db")
	db := mustOpenAt(t, path, sqlite.Options{})
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on a migrated database: %v", err)
	}
	// Someone rolls the schema version back behind the server's back.
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM goose_db_version WHERE version_id > 0`); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded with a migration pending")
	}
}

func TestGroupCommitBatches(t *testing.T) {
	var batches, commands atomic.Int64
	db := MustOpenDB(t, sqlite.Options{OnBatch: func(n int) {
		batches.Add(1)
		commands.Add(int64(n))
	}})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := db.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
				if err := tx.InsertResource(t.Context(), testUser("acme", fmt.Sprintf("u%d", i))); err != nil {
					return err
				}
				return appendOne(t.Context(), tx, "acme", fmt.Sprint(i))
			})
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := commands.Load(); got != n {
		t.Errorf("OnBatch counted %d commands, want %d", got, n)
	}
	if got := batches.Load(); got >= n || got < 1 {
		t.Errorf("%d commands ran in %d batches, want fewer batches than commands", n, got)
	}
	t.Logf("%d commands in %d batches", n, batches.Load())
}

// blockWriter queues a command that holds the writer until the returned func is called,
// so a test can arrange what sits in the queue.
func blockWriter(t *testing.T, db *sqlite.DB) (release func(), finished <-chan error) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), "acme", func(scimtrail.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return sync.OnceFunc(func() { close(unblock) }), done
}

func TestCancelWhileQueuedWithdrawsTheCommand(t *testing.T) {
	db := MustOpenDB(t, sqlite.Options{})
	release, finished := blockWriter(t, db)
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{}, 1)
	result := make(chan error, 1)
	go func() {
		result <- db.Update(ctx, "acme", func(scimtrail.Tx) error { ran <- struct{}{}; return nil })
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the queue
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("Update cancelled while queued = %v, want context.Canceled", err)
	}
	release()
	if err := <-finished; err != nil {
		t.Fatalf("blocking command: %v", err)
	}
	// A later command runs after the withdrawn one would have.
	mustUpdate(t, db, "acme", func(context.Context, scimtrail.Tx) error { return nil })
	select {
	case <-ran:
		t.Error("a command withdrawn while queued was run anyway")
	default:
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimtrail.db")
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	release, finished := blockWriter(t, db)
	const n = 10
	results := make(chan error, n)
	for i := range n {
		go func() {
			results <- db.Update(context.Background(), "acme", func(tx scimtrail.Tx) error {
				return tx.InsertResource(context.Background(), testUser("acme", fmt.Sprintf("u%d", i)))
			})
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them queue behind the blocker
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	time.Sleep(10 * time.Millisecond)
	release()
	if err := <-finished; err != nil {
		t.Fatalf("blocking command: %v", err)
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("queued Update during Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Update(t.Context(), "acme", func(scimtrail.Tx) error { return nil }); err == nil {
		t.Error("Update after Close succeeded")
	}
	db = mustOpenAt(t, path, sqlite.Options{})
	err = db.View(t.Context(), func(tx scimtrail.ReadTx) error {
		p, err := tx.QueryResources(t.Context(), "acme", scimtrail.Query{Type: scimtrail.UserResource})
		if err != nil || p.Total != n {
			t.Errorf("users kept after Close drained the queue = %d, %v; want %d", p.Total, err, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPanicFailsOnlyThatCommand(t *testing.T) {
	db := MustOpenDB(t, sqlite.Options{})
	err := db.Update(t.Context(), "acme", func(tx scimtrail.Tx) error {
		if err := tx.InsertResource(t.Context(), testUser("acme", "u1")); err != nil {
			return err
		}
		panic("boom")
	})
	if scimtrail.ErrorCode(err) != scimtrail.EINTERNAL {
		t.Errorf("Update whose fn panicked = %v, want EINTERNAL", err)
	}
	mustUpdate(t, db, "acme", func(ctx context.Context, tx scimtrail.Tx) error {
		if _, err := tx.Resource(ctx, "acme", scimtrail.UserResource, "u1"); scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
			t.Errorf("write of a panicked command kept: %v", err)
		}
		return nil
	})
}

func TestViewIsReadOnly(t *testing.T) {
	db := MustOpenDB(t, sqlite.Options{})
	err := db.View(t.Context(), func(tx scimtrail.ReadTx) error {
		w, ok := tx.(scimtrail.Tx)
		if !ok {
			return nil
		}
		if err := w.InsertTenant(t.Context(), scimtrail.Tenant{ID: "acme", Created: base}); err == nil {
			t.Error("a write through View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUpdateParallel measures the write path's floor: each op is one command that
// inserts one resource and appends one ledger entry, from GOMAXPROCS×p goroutines (use
// -cpu or b.SetParallelism via -test.cpu to vary the number of clients).
func BenchmarkUpdateParallel(b *testing.B) {
	var batches atomic.Int64
	db := MustOpenDB(b, sqlite.Options{OnBatch: func(int) { batches.Add(1) }})
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := fmt.Sprintf("u%d", next.Add(1))
			err := db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
				if err := tx.InsertResource(ctx, testUser("acme", id)); err != nil {
					return err
				}
				return appendOne(ctx, tx, "acme", id)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "cmds/batch")
	}
}

// TestCheckpointsBoundTheWAL writes far more pages than WALRestartPages, one commit at a
// time, and checks that the WAL file stayed well short of holding them all (~26 MiB here):
// the writer never checkpoints (wal_autocheckpoint=0), so only the checkpointer can make
// the WAL start over. It runs every 50 ms, so the WAL grows past WALRestartPages by what is
// committed meanwhile (up to ~8 MiB was seen on a loaded machine).
func TestCheckpointsBoundTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimtrail.db")
	db := mustOpenAt(t, path, sqlite.Options{WALRestartPages: 128})
	blob, _ := json.Marshal(map[string]string{"notes": strings.Repeat("x", 12000)})
	const n = 800
	for i := range n {
		u := testUser("acme", fmt.Sprintf("u%04d", i))
		u.Attributes = blob
		mustUpdate(t, db, "acme", func(ctx context.Context, tx scimtrail.Tx) error { return tx.InsertResource(ctx, u) })
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(13 << 20); st.Size() > max {
		t.Errorf("WAL is %d bytes after %d commits of 12 KB, want at most %d: checkpoints do not let it start over", st.Size(), n, max)
	}
	err = db.View(t.Context(), func(tx scimtrail.ReadTx) error {
		for _, id := range []string{"u0000", fmt.Sprintf("u%04d", n-1)} {
			if _, err := tx.Resource(t.Context(), "acme", scimtrail.UserResource, id); err != nil {
				t.Errorf("Resource(%s): %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
