// Package postgres implements scimtrail.Store on PostgreSQL, so that several stateless
// replicas can serve one install. Writers of one tenant serialise on the row lock of the
// tenant's ledger head; everything else runs concurrently.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/internal/listpos"
	"github.com/scimtrail/scimtrail/ledger"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable is goose's bookkeeping table. It is unqualified, like every table, so it
// lives in the connection's current schema next to the tables it describes.
const versionTable = "goose_db_version"

// Options configure a DB.
type Options struct {
	// OnBatch, if set, is called after every committed Update with the number of commands
	// the commit carried. PostgreSQL commits each Update on its own, so that is always 1;
	// the hook exists so that metrics read the same for both backends.
	OnBatch func(commands int)
}

// DB is a scimtrail.Store on a PostgreSQL database.
type DB struct {
	pool    *pgxpool.Pool
	opts    Options
	version int64 // the newest embedded migration, which Ping expects to be applied
	// positions remembers where deep list pages begin (package listpos).
	positions *listpos.Index
}

var _ scimtrail.Store = (*DB)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value string) and applies
// any pending migrations. Migrations run under a PostgreSQL advisory lock, so replicas
// started together migrate once; the lock is keyed by database and schema so that
// installs in different schemas of one database never wait for each other.
//
// The pool keeps pgxpool's default size, max(4, NumCPU), unless the DSN sets
// pool_max_conns: on a 2-core host with PostgreSQL on the same machine, 16 connections
// halved creates and GETs at 64 clients against 4 (docs/benchmarks.md), because writes
// queue on the tenant's head-row lock inside PostgreSQL instead of in the pool. A database
// on its own host may want more.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	return open(ctx, dsn, opts, nil)
}

// open is Open with a hook that may change the pool's configuration (tests count round
// trips with it).
func open(ctx context.Context, dsn string, opts Options, configure func(*pgxpool.Config)) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &scimtrail.Error{Code: scimtrail.EINVALID, Message: "the PostgreSQL connection string is not valid", Err: err}
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool, opts: opts, positions: listpos.New()}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	var database, schema string
	err := db.pool.QueryRow(ctx, `SELECT current_database(), coalesce(current_schema(), '')`).Scan(&database, &schema)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	if schema == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "PostgreSQL database %q has no schema on the search_path to create tables in", database)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "scimtrail\x00%s\x00%s", database, schema)
	// The default goose lock id is kept in the high bits' place by XOR so the id stays
	// recognisable in pg_locks while differing per schema.
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(lock.DefaultLockID^int64(h.Sum64()>>1)),
		// Poll every second rather than every five: a replica that waits for another's
		// migrations should start as soon as they are done. Give up after five minutes.
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	// goose speaks database/sql; the adapter borrows connections from the pool and closing
	// it leaves the pool open.
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		// Migration numbers are handed out to branches developed side by side, so a
		// database may already be at a higher version than a migration merged after it.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sources := p.ListSources()
	if len(sources) == 0 {
		return errors.New("postgres: no embedded migrations")
	}
	db.version = sources[len(sources)-1].Version
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: apply migrations: %w", err)
	}
	return nil
}

// Ping reports whether the database answers and every embedded migration is applied; a
// replica that is older than the schema, or newer, is not ready.
func (db *DB) Ping(ctx context.Context) error {
	var current *int64
	err := db.pool.QueryRow(ctx, `SELECT max(version_id) FROM `+versionTable).Scan(&current)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: ping: %w", err))
	}
	if current == nil || *current != db.version {
		got := int64(0)
		if current != nil {
			got = *current
		}
		return scimtrail.Errorf(scimtrail.EINTERNAL, "the database schema is at version %d but this build expects %d; run scimtrail migrate", got, db.version)
	}
	return nil
}

// Close closes the pool once every borrowed connection is back.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Update runs fn in one READ COMMITTED transaction that first takes the row lock of the
// tenant's ledger head, creating the row if needed. Every statement fn runs after the lock
// therefore sees everything earlier writers of the tenant committed, on any replica.
func (db *DB) Update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	return unavailable(db.update(ctx, tenant, fn))
}

func (db *DB) update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	pgtx, err := begin(ctx, db.pool, "BEGIN ISOLATION LEVEL READ COMMITTED")
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// Release rolls back what Commit did not end; this covers fn's errors and panics.
	defer pgtx.Release(context.WithoutCancel(ctx))
	head, tn, edge, err := lockHead(ctx, pgtx, tenant)
	if err != nil {
		return err
	}
	if err := fn(&tx{tx: pgtx, heads: map[string]*scimtrail.LedgerHead{tenant: &head}, tenant: tn, edge: edge}); err != nil {
		return err
	}
	if err := pgtx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", translate(err))
	}
	if db.opts.OnBatch != nil {
		db.opts.OnBatch(1)
	}
	return nil
}

// lockHead takes the tenant's write lock and returns the locked head, with the tenant's row
// when there is one (nil otherwise) and the partial level-0 tile at the head's right edge
// (see edgeTile). The common case, a head row that exists, is one round trip; otherwise the
// INSERT makes sure there is a row to lock (if another transaction is inserting it at the
// same moment, ON CONFLICT waits for that transaction and then does nothing) and the
// SELECT queues behind it.
func lockHead(ctx context.Context, pgtx querier, tenant string) (scimtrail.LedgerHead, *scimtrail.Tenant, *edgeTile, error) {
	head := scimtrail.LedgerHead{Tenant: tenant}
	// The tenant's row comes along because every write checks that its tenant exists, and
	// the edge tile because every append extends it: each would be a round trip of its own.
	const lock = `SELECT h.size, h.range, t.name, t.created, e.idx, e.data FROM ledger_heads h
		LEFT JOIN tenants t ON t.id = h.tenant
		LEFT JOIN ledger_tiles e ON e.tenant = h.tenant AND e.level = 0 AND e.idx = h.size / $2
		WHERE h.tenant = $1 FOR UPDATE OF h`
	var name *string
	var created *time.Time
	var edgeIndex *int64
	var edge []byte
	scan := func() error {
		return pgtx.QueryRow(ctx, lock, tenant, int64(ledger.TileWidth)).Scan(&head.Size, &head.Range, &name, &created, &edgeIndex, &edge)
	}
	err := scan()
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = pgtx.Exec(ctx, `INSERT INTO ledger_heads (tenant, size, range) VALUES ($1, 0, '') ON CONFLICT DO NOTHING`, tenant)
		if err == nil {
			err = scan()
		}
	}
	if err != nil {
		return head, nil, nil, fmt.Errorf("postgres: lock tenant %q: %w", tenant, err)
	}
	if len(head.Range) == 0 {
		head.Range = nil
	}
	var tn *scimtrail.Tenant
	if name != nil && created != nil {
		tn = &scimtrail.Tenant{ID: tenant, Name: *name, Created: created.UTC()}
	}
	// After waiting for the lock, PostgreSQL re-reads the locked head but keeps the joined
	// rows it first found, so the tile may be from before the head we got: it is trusted
	// only if it is this head's right-edge tile and exactly as long as the edge (the log is
	// append-only, so those leaves' hashes are the tile's whole content).
	var et *edgeTile
	prefix := head.Size % ledger.TileWidth
	if prefix > 0 && edgeIndex != nil && *edgeIndex == head.Size/ledger.TileWidth && int64(len(edge)) == prefix*ledger.HashSize {
		et = &edgeTile{tenant: tenant, index: head.Size / ledger.TileWidth, data: edge}
	}
	return head, tn, et, nil
}

// edgeTile is the partial level-0 tile of a locked head's right edge, as read with the lock.
// Only holders of the head's lock write the tenant's tiles, so it stays valid until this
// transaction writes tiles of the tenant.
type edgeTile struct {
	tenant string
	index  int64
	data   []byte
}

// View runs fn in a REPEATABLE READ, read-only transaction: one snapshot for all of fn.
func (db *DB) View(ctx context.Context, fn func(scimtrail.ReadTx) error) error {
	return unavailable(db.view(ctx, fn))
}

// Peek runs fn as View does (scimtrail.Store.Peek allows one snapshot for all of fn). On
// PostgreSQL what a lookup costs is round trips, which the transaction's own handling
// decides, not a per-statement price as on SQLite.
func (db *DB) Peek(ctx context.Context, fn func(scimtrail.ReadTx) error) error {
	return db.View(ctx, fn)
}

func (db *DB) view(ctx context.Context, fn func(scimtrail.ReadTx) error) error {
	pgtx, err := begin(ctx, db.pool, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer pgtx.Release(context.WithoutCancel(ctx))
	if err := fn(&tx{tx: pgtx, pos: db.positions}); err != nil {
		return err
	}
	// Committing a read-only transaction only ends it, but tells us the connection is sane.
	if err := pgtx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}
