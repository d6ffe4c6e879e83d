package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// writerConn is the writer goroutine's connection, held for the life of the DB, with the
// statements prepared on it. Batches run BEGIN IMMEDIATE … COMMIT on it as statements
// instead of through *sql.Tx: a statement prepared on a *sql.Conn runs on it directly,
// where one prepared on the pool had to be bound to each transaction with Tx.StmtContext
// (allocations and locks per statement) and closed with it (~6% of the writer's CPU).
// Only the writer goroutine uses it, so it needs no lock.
type writerConn struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// writerStmtsMax bounds the prepared statements; the writer's texts are a few dozen fixed
// ones plus multi-row chunks (batch.go), so the bound is only a safety net.
const writerStmtsMax = 512

// begin starts a batch's transaction, taking a fresh connection if the held one is gone
// (database/sql reports a broken connection once and then refuses it).
func (w *writerConn) begin(ctx context.Context) error {
	var err error
	for range 2 {
		if w.conn == nil {
			if w.conn, err = w.db.Conn(ctx); err != nil {
				return err
			}
		}
		if _, err = w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); !errors.Is(err, sql.ErrConnDone) && !errors.Is(err, driver.ErrBadConn) {
			return err
		}
		w.reset()
	}
	return err
}

func (w *writerConn) commit(ctx context.Context) error {
	_, err := w.conn.ExecContext(ctx, "COMMIT")
	if err != nil {
		// SQLite rolls back by itself on some COMMIT failures (disk full, I/O) and leaves
		// the transaction open on others; either way nothing of it may stay.
		w.rollback(ctx)
	}
	return err
}

// rollback ends the batch's transaction; "no transaction is active" (SQLite already rolled
// it back) is not an error here.
func (w *writerConn) rollback(ctx context.Context) {
	if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); errors.Is(err, sql.ErrConnDone) {
		w.reset()
	}
}

// stmt returns query prepared on the writer's connection.
func (w *writerConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(w.stmts) >= writerStmtsMax {
		w.closeStmts()
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writerConn) closeStmts() error {
	var errs []error
	for q, st := range w.stmts {
		errs = append(errs, st.Close())
		delete(w.stmts, q)
	}
	return errors.Join(errs...)
}

// reset drops the connection and its statements; the next begin takes a new one.
func (w *writerConn) reset() {
	w.closeStmts()
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func (w *writerConn) close() error {
	err := w.closeStmts()
	if w.conn != nil {
		err = errors.Join(err, w.conn.Close())
		w.conn = nil
	}
	return err
}
