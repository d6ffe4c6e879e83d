package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// querier is what the store's SQL runs on: a session, or anything else that speaks pgx.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// session is one transaction on a pooled connection that saves round trips: BEGIN is not
// sent on its own but in one pipeline with the transaction's first statement, and writes
// whose outcome nobody reads until commit (Defer) travel with the next statement or with
// COMMIT. On the same host each round trip costs both processes a write, a read and a
// wake-up, which was most of a GET's time in pgx (BEGIN and COMMIT were 18% of its CPU).
//
// Statements still run in the order they were issued, so the transaction sees its own
// deferred writes; a deferred write that fails fails the statement it travelled with, or
// the commit.
type session struct {
	conn    *pgxpool.Conn
	pending pgx.Batch // BEGIN until the first statement, and deferred writes
	unsent  bool      // BEGIN is still in pending
}

var _ querier = (*session)(nil)

// begin acquires a connection for a transaction that starts with the statement begin.
func begin(ctx context.Context, pool *pgxpool.Pool, begin string) (*session, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, unsent: true}
	s.pending.Queue(begin)
	return s, nil
}

// Defer queues a statement to run before the next one, or at commit. Its arguments are
// encoded only when it is sent, so they must not change until then.
func (s *session) Defer(sql string, args ...any) {
	s.pending.Queue(sql, args...)
}

// send runs the pending statements, then sql, as one pipeline, leaving sql's result next.
// A statement with pgx query options (result formats, exec mode) cannot join a batch: the
// pending ones then go first on their own.
func (s *session) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if hasOptions(args) {
		if err := s.flush(ctx); err != nil {
			return nil, err
		}
		return nil, nil
	}
	n := s.pending.Len()
	s.pending.Queue(sql, args...)
	b := s.pending
	s.pending, s.unsent = pgx.Batch{}, false
	br := s.conn.SendBatch(ctx, &b)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// flush runs the pending statements.
func (s *session) flush(ctx context.Context) error {
	if s.pending.Len() == 0 {
		return nil
	}
	b := s.pending
	s.pending, s.unsent = pgx.Batch{}, false
	return s.conn.SendBatch(ctx, &b).Close()
}

func hasOptions(args []any) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryExecMode, pgx.QueryRewriter:
		return true
	}
	return false
}

func (s *session) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if s.pending.Len() == 0 {
		return s.conn.Exec(ctx, sql, args...)
	}
	br, err := s.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	if br == nil {
		return s.conn.Exec(ctx, sql, args...)
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (s *session) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if s.pending.Len() == 0 {
		return s.conn.Query(ctx, sql, args...)
	}
	br, err := s.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	if br == nil {
		return s.conn.Query(ctx, sql, args...)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (s *session) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := s.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return rowOf{rows}
}

// Commit sends the deferred writes and COMMIT as one pipeline. A transaction that never
// ran a statement sends nothing.
func (s *session) Commit(ctx context.Context) error {
	if s.unsent && s.pending.Len() == 1 {
		s.pending, s.unsent = pgx.Batch{}, false
		return nil
	}
	tag, err := s.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	// COMMIT of a transaction that had failed answers ROLLBACK, without an error.
	if tag.String() != "COMMIT" {
		return fmt.Errorf("the transaction was rolled back (%s)", tag)
	}
	return nil
}

// Release ends the transaction if it is still open and returns the connection to the pool
// (which closes it instead if it is broken or still in a transaction).
func (s *session) Release(ctx context.Context) {
	if s.conn == nil {
		return
	}
	if s.conn.Conn().PgConn().TxStatus() != 'I' {
		s.conn.Exec(ctx, "ROLLBACK") //nolint:errcheck // the pool discards a connection left in a transaction
	}
	s.conn.Release()
	s.conn = nil
}

// batchRows closes the batch with the rows, reading the pipeline's end.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// rowOf is pgx's QueryRow over rows that may be a batch's.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
