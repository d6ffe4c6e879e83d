// Package sqlite implements scimtrail.Store on a single SQLite file (modernc.org/sqlite, pure
// Go). SQLite has one writer, so writes go through one connection and a group-commit
// writer goroutine (DESIGN.md §2); reads go through a separate pool of read-only connections
// and, thanks to WAL, never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/internal/listpos"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds how many queued commands one transaction applies, so that one batch's
// latency stays bounded when the queue is long.
const maxBatch = 256

// Options tunes a DB.
type Options struct {
	// OnBatch, if set, is called by the writer goroutine after each batch it ran (committed
	// or not) with the number of commands in it, so a metrics layer can observe how well
	// group commit batches. It must be quick: the writer waits for it.
	OnBatch func(commands int)
	// WALRestartPages is the WAL length, in pages, past which the checkpointer makes the
	// WAL start over (checkpoint.go); 0 means 4,096 pages (16 MiB).
	WALRestartPages int64
	// MapReads maps the database file for reads (mmap_size 1 GiB) instead of copying each
	// page in with read(2): long scans (audit verify) run about a fifth faster. A server
	// leaves it off: every read connection's mapping counts in its resident memory (RSS
	// above 1 GB at 1M users), and its point reads gain nothing measurable.
	MapReads bool
}

// DB is a scimtrail.Store on one SQLite database file.
type DB struct {
	write  *sql.DB     // exactly one connection: SQLite allows one writer at a time anyway
	read   *sql.DB     // query_only connections for View
	w      *writerConn // the write connection, held by the writer goroutine (writer.go)
	rstmts *stmtCache
	opts   Options
	// positions remembers where deep list pages begin (package listpos).
	positions *listpos.Index

	mu     sync.Mutex
	queue  []*command
	closed bool
	wake   chan struct{} // capacity 1: "the queue may be non-empty"
	done   chan struct{} // closed when the writer goroutine has drained the queue and exited

	closeOnce sync.Once
	closeErr  error

	writesFailing atomic.Bool // the last write failed for want of disk or I/O (unavailable.go)

	// The checkpointer (checkpoint.go): its connection, its wake-up and stop signals, and
	// commitMu, which the writer holds from BEGIN to COMMIT so the checkpointer can hold
	// it off while it lets the WAL start over.
	ckpt     *sql.DB
	wakeCkpt chan struct{}
	stopCkpt chan struct{}
	ckptDone chan struct{}
	commitMu sync.Mutex
}

var _ scimtrail.Store = (*DB)(nil)

// Command states. A command is queued until the writer claims it or its caller gives up;
// whichever compare-and-swap wins decides, so a command is never both run and abandoned.
const (
	queued int32 = iota
	claimed
	abandoned
)

type command struct {
	fn    func(scimtrail.Tx) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

// Open opens (creating it and its parent directory if missing) the database at path and
// applies any pending migrations.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, scimtrail.Errorf(scimtrail.EINVALID, "database path %q is not a usable file name", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, &scimtrail.Error{Code: scimtrail.EINTERNAL, Message: fmt.Sprintf("cannot create the database directory %s", dir), Err: err}
		}
	}
	// busy_timeout matters only at start-up and for WAL checkpoints: with one writer
	// connection, nothing else in this process competes for the write lock.
	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(FULL)")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = append([]string(nil), v...)
	}
	wq.Add("_pragma", "journal_mode(WAL)")
	// Each command of a batch runs in a SAVEPOINT, whose statement journal spilled to a temp
	// file past 64 KiB (a write syscall per page); in memory it is a copy.
	wq.Add("_pragma", "temp_store(MEMORY)")
	// The writer's page cache outlives its transactions (it is the only writer), so a
	// larger one saves re-reading index pages that every write touches. In KiB.
	wq.Add("_pragma", "cache_size(-65536)")
	// Checkpoints run on their own connection (checkpoint.go), not inside the writer's
	// COMMIT.
	wq.Add("_pragma", "wal_autocheckpoint(0)")
	// IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then
	// writes can fail with SQLITE_BUSY instead of waiting.
	wq.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, internal("cannot open the database", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}

	// The checkpointer's connection has the common pragmas only (common is changed below).
	ckq := common.Encode()
	rq := common
	rq.Add("_pragma", "query_only(1)")
	if opts.MapReads {
		rq.Add("_pragma", "mmap_size(1073741824)")
	}
	read, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		write.Close()
		return nil, internal("cannot open the database", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	db := &DB{write: write, read: read, w: &writerConn{db: write, stmts: map[string]*sql.Stmt{}}, rstmts: newStmtCache(read),
		opts: opts, positions: listpos.New(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	if err := db.openCheckpointer(path, ckq); err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	go db.run()
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return internal("cannot apply database migrations", err)
	}
	return nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, internal("embedded migrations are missing", err)
	}
	// Migration numbers are handed out to branches developed side by side, so a database
	// may already be at a higher version than a migration merged after it: apply that one
	// too instead of refusing to open.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, internal("cannot read the embedded migrations", err)
	}
	return p, nil
}

func internal(msg string, err error) *scimtrail.Error {
	return &scimtrail.Error{Code: scimtrail.EINTERNAL, Message: msg, Err: err}
}

// Update queues fn for the writer goroutine and waits until the batch it ran in has
// committed. Every write in this database is serialised by the one writer, so the
// per-tenant serialisation the contract asks for holds for all tenants at once.
//
// While fn is still queued, a cancelled ctx withdraws it and Update returns ctx.Err(); once
// the writer has started it, Update waits for the real outcome, so a caller never mistakes
// a committed change for a failed one. A panic in fn is turned into an EINTERNAL error for
// that command only, because a dead writer would stall every later write.
func (db *DB) Update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &command{fn: fn, done: make(chan struct{})}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return scimtrail.Errorf(scimtrail.EINTERNAL, "the database is closed")
	}
	db.queue = append(db.queue, c)
	db.mu.Unlock()
	select {
	case db.wake <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
		return db.outcome(c.err)
	case <-ctx.Done():
		if c.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-c.done
		return db.outcome(c.err)
	}
}

// run is the writer goroutine: it applies whatever is queued as one transaction (see
// applyBatch), until Close has been called and the queue is empty.
func (db *DB) run() {
	defer close(db.done)
	for {
		db.mu.Lock()
		for len(db.queue) == 0 && !db.closed {
			db.mu.Unlock()
			<-db.wake
			db.mu.Lock()
		}
		empty := len(db.queue) == 0
		db.mu.Unlock()
		if empty {
			return
		}
		db.applyBatch()
	}
}

// take removes up to n commands from the queue and returns those it could claim (a caller
// may have withdrawn the others).
func (db *DB) take(n int) []*command {
	db.mu.Lock()
	k := min(len(db.queue), n)
	taken := db.queue[:k:k]
	db.queue = db.queue[k:]
	if len(db.queue) == 0 {
		db.queue = nil // let the old backing array go
	}
	db.mu.Unlock()
	live := taken[:0]
	for _, c := range taken {
		if c.state.CompareAndSwap(queued, claimed) {
			live = append(live, c)
		}
	}
	return live
}

// extendFor is how long after BEGIN a batch still takes in commands queued while it runs.
const extendFor = 2 * time.Millisecond

// applyBatch runs queued commands in one transaction, each inside its own SAVEPOINT so a
// failing command is undone alone, commits once (one fsync for all of them), and only then
// answers every command.
//
// Commands queued while the batch runs join it (up to maxBatch commands and for extendFor
// after BEGIN) instead of waiting for the next one. Otherwise clients fall into two groups
// that take turns: each batch holds the commands that arrived during the previous commit,
// so 8 clients made batches of about 4 and twice the commits (fsyncs) needed.
func (db *DB) applyBatch() {
	live := db.take(maxBatch)
	if len(live) == 0 {
		return
	}
	defer func() {
		if db.opts.OnBatch != nil {
			db.opts.OnBatch(len(live))
		}
		for _, c := range live {
			close(c.done)
		}
	}()
	failAll := func(err error) {
		for _, c := range live {
			c.err = err
		}
	}

	// The batch's transaction is not tied to any caller's context: one caller giving up
	// must not roll back the others' work.
	ctx := context.Background()
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	start := time.Now()
	if err := db.w.begin(ctx); err != nil {
		failAll(internal("cannot start a write transaction", err))
		return
	}
	tx := &txn{q: db.w.conn, w: db.w, buf: newLedgerBuffer(), bctx: ctx}
	for i := 0; i < len(live); i++ {
		c := live[i]
		if _, err := tx.exec(ctx, "SAVEPOINT command"); err != nil {
			db.w.rollback(ctx)
			failAll(internal("cannot start a write command", err))
			return
		}
		c.err = call(c.fn, tx)
		if c.err != nil {
			tx.buf.discard()
			if _, err := tx.exec(ctx, "ROLLBACK TO command"); err != nil {
				// SQLite rolls the whole transaction back on some errors (disk full, I/O);
				// then nothing of the batch survives and every command must hear so.
				db.w.rollback(ctx)
				failAll(internal("the write transaction failed", errors.Join(c.err, err)))
				return
			}
		}
		if _, err := tx.exec(ctx, "RELEASE command"); err != nil {
			db.w.rollback(ctx)
			failAll(internal("the write transaction failed", err))
			return
		}
		tx.buf.keep()
		if i == len(live)-1 && len(live) < maxBatch && time.Since(start) < extendFor {
			live = append(live, db.take(maxBatch-len(live))...)
		}
	}
	if err := tx.flushLedger(ctx); err != nil {
		db.w.rollback(ctx)
		failAll(internal("the write transaction failed", err))
		return
	}
	if err := db.w.commit(ctx); err != nil {
		commitErr := internal("cannot commit the write transaction", err)
		for _, c := range live {
			if c.err == nil {
				c.err = commitErr
			}
		}
		return
	}
	db.committed()
}

func call(fn func(scimtrail.Tx) error, tx scimtrail.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = internal("internal error", fmt.Errorf("panic in write command: %v", r))
		}
	}()
	return fn(tx)
}

// View runs fn in a read transaction on its own connection. In WAL mode a read transaction
// sees the database as of its first read, so everything fn reads is one snapshot, and
// commits made meanwhile stay invisible to it.
func (db *DB) View(ctx context.Context, fn func(scimtrail.ReadTx) error) error {
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return unavailable(internal("cannot start a read transaction", err))
	}
	defer sqlTx.Rollback()
	return unavailable(fn(&txn{q: sqlTx, tx: sqlTx, cache: db.rstmts, pos: db.positions}))
}

// Peek runs fn on the read pool without a transaction (scimtrail.Store.Peek), so a lookup
// costs one statement, not BEGIN, the statement and ROLLBACK. Each statement gets a snapshot
// of its own, which WAL gives any statement. Its statements do not watch ctx: they are
// lookups by key that take microseconds, and watching costs database/sql and the driver a
// goroutine each per statement.
func (db *DB) Peek(ctx context.Context, fn func(scimtrail.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return unavailable(fn(&txn{q: db.read, cache: db.rstmts, peek: true, bctx: context.WithoutCancel(ctx)}))
}

// Ping checks that the database answers and that every embedded migration is applied.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return unavailable(internal("the database does not answer", err))
	}
	if err := db.probeWrites(ctx); err != nil {
		return err
	}
	p, err := provider(db.read)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return internal("cannot read the migration version", err)
	}
	if pending {
		return scimtrail.Errorf(scimtrail.EINTERNAL, "the database has pending migrations")
	}
	return nil
}

// Close stops accepting writes, waits until every queued write has been applied and
// answered, then closes the database. Calling it again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		select {
		case db.wake <- struct{}{}:
		default:
		}
		<-db.done
		db.closeErr = errors.Join(db.closeCheckpointer(), db.rstmts.close(), db.w.close(), db.read.Close(), db.write.Close())
	})
	return db.closeErr
}
