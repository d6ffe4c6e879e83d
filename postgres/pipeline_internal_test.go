package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimtrail/scimtrail/postgres/pgtest"
)

// TestSession checks the pipelined transaction: BEGIN and deferred writes travel with the
// next statement, which sees them; a deferred write that fails fails that statement or the
// commit and leaves nothing behind; the connection goes back to the pool idle.
func TestSession(t *testing.T) {
	if pgtest.DSN() == "" {
		t.Skip("SCIMTRAIL_TEST_POSTGRES is not set; run under scripts/with-postgres to test the postgres backend")
	}
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.Schema(t, "sess")+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	count := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	inTx := func(t *testing.T, fn func(s *session) error) error {
		t.Helper()
		s, err := begin(ctx, pool, "BEGIN ISOLATION LEVEL READ COMMITTED")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release(context.WithoutCancel(ctx))
		if err := fn(s); err != nil {
			return err
		}
		return s.Commit(ctx)
	}

	t.Run("DeferredWritesAreSeenAndCommitted", func(t *testing.T) {
		err := inTx(t, func(s *session) error {
			s.Defer(`INSERT INTO kv VALUES ($1, $2)`, "a", 1)
			s.Defer(`UPDATE kv SET v = v + 1 WHERE k = $1`, "a")
			var v int
			if err := s.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, "a").Scan(&v); err != nil {
				return err
			}
			if v != 2 {
				t.Errorf("read after deferred writes: v = %d, want 2", v)
			}
			s.Defer(`INSERT INTO kv VALUES ($1, $2)`, "b", 1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := count(t); got != 2 {
			t.Fatalf("after commit: %d rows, want 2", got)
		}
	})
	t.Run("FailedDeferredWriteFailsCommit", func(t *testing.T) {
		err := inTx(t, func(s *session) error {
			if _, err := s.Exec(ctx, `INSERT INTO kv VALUES ($1, $2)`, "c", 1); err != nil {
				return err
			}
			s.Defer(`INSERT INTO kv VALUES ($1, $2)`, "a", 9) // "a" exists
			return nil
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			t.Fatalf("commit: %v, want a unique violation", err)
		}
		if got := count(t); got != 2 {
			t.Fatalf("after failed commit: %d rows, want the 2 from before", got)
		}
	})
	t.Run("FailedDeferredWriteFailsNextStatement", func(t *testing.T) {
		err := inTx(t, func(s *session) error {
			s.Defer(`INSERT INTO kv VALUES ($1, $2)`, "a", 9)
			rows, err := s.Query(ctx, `SELECT k FROM kv`)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			t.Fatalf("query after a failing deferred write: %v, want a unique violation", err)
		}
	})
	t.Run("QueryOptionsAfterDeferredWrites", func(t *testing.T) {
		err := inTx(t, func(s *session) error {
			s.Defer(`UPDATE kv SET v = 5 WHERE k = $1`, "b")
			var v int32
			err := s.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, pgx.QueryResultFormats{pgx.BinaryFormatCode}, "b").Scan(&v)
			if err == nil && v != 5 {
				t.Errorf("v = %d, want 5", v)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NoStatementsSendNothing", func(t *testing.T) {
		if err := inTx(t, func(*session) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrorRollsBack", func(t *testing.T) {
		boom := errors.New("boom")
		err := inTx(t, func(s *session) error {
			if _, err := s.Exec(ctx, `INSERT INTO kv VALUES ($1, $2)`, "d", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		if got := count(t); got != 2 {
			t.Fatalf("after rollback: %d rows, want 2", got)
		}
	})
	// With one connection, every subtest above got it back idle, or count would fail.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if st := conn.Conn().PgConn().TxStatus(); st != 'I' {
		t.Fatalf("pooled connection in transaction state %q, want idle", st)
	}
}
