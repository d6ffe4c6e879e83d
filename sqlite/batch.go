package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// rowsChunk is how many rows one multi-row statement carries: 500 rows of up to 8 columns
// stay well under SQLite's limit of 32,766 host parameters.
const rowsChunk = 500

// rowChunks are the row counts of the statements execRows runs, largest first: n rows go as
// full chunks of 500, then of 64, then of 8, then one at a time. Each statement kind so has
// four texts, all of which are prepared once and reused; a text with the exact row count
// was parsed on every call (a batch of 256 ledger entries spent 7% of its CPU parsing).
var rowChunks = [...]int{rowsChunk, 64, 8, 1}

// execRows runs head + "(row), (row), …" + tail for n rows, in statements of rowChunks rows,
// with rowArgs appending row i's arguments, and returns the rows affected. One statement per
// many rows instead of one per row is what makes mapping a 100k-member group a matter of
// seconds: each statement execution costs about as much as a row.
//
// The texts of 1, 8 and 64 rows go through the prepared-statement cache; the full-chunk
// text is prepared once per transaction (txn.repeated), as the cache prepares a miss only
// after the transaction that missed.
func (t *txn) execRows(ctx context.Context, head, row, tail string, n int, rowArgs func(i int, args []any) []any) (int64, error) {
	ctx = t.statementCtx(ctx)
	var affected int64
	for start := 0; start < n; {
		size := rowChunks[len(rowChunks)-1]
		for _, c := range rowChunks {
			if n-start >= c {
				size = c
				break
			}
		}
		end := start + size
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, size*strings.Count(row, "?"))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = rowArgs(i, args)
		}
		b.WriteString(tail)
		q := b.String()
		var res sql.Result
		var err error
		if size == rowsChunk {
			var st *sql.Stmt
			if st, err = t.repeated(ctx, q); err == nil {
				res, err = st.ExecContext(ctx, args...)
			}
		} else {
			res, err = t.exec(ctx, q, args...)
		}
		if err != nil {
			return affected, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return affected, err
		}
		affected += k
		start = end
	}
	return affected, nil
}

// repeated returns query prepared for the rest of the transaction: the shared cache's
// statement when it has one, otherwise one prepared on the transaction itself. Texts of full
// chunks (500 rows or ids) repeat within one large recompute, but the shared cache prepares
// a miss only after the transaction that missed ends (see stmtCache), so without this every
// chunk of the first large mapping was parsed anew: parsing a 500-row text costs more
// than running it. Statements prepared on a *sql.Tx are closed when it ends.
func (t *txn) repeated(ctx context.Context, query string) (*sql.Stmt, error) {
	ctx = t.statementCtx(ctx)
	if st := t.prepared(ctx, query); st != nil {
		return st, nil
	}
	if st, ok := t.local[query]; ok {
		return st, nil
	}
	if t.w != nil {
		return t.w.stmt(ctx, query) // the writer: prepared returned nil for an error
	}
	st, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if t.local == nil {
		t.local = map[string]*sql.Stmt{}
	}
	t.local[query] = st
	return st, nil
}

// queryIn runs a query whose IN list holds one chunk of ids: a full chunk's text repeats,
// so it is prepared for the transaction; shorter ones run once and are not.
func (t *txn) queryIn(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.statementCtx(ctx)
	if len(args) > lookupChunk {
		st, err := t.repeated(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	return t.q.QueryContext(ctx, query, args...)
}
