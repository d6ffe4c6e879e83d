package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// The ledger's tree (tiles), checkpoints and settings (scimtrail.LedgerReadTx, LedgerTx).

func (t *txn) ReadTile(ctx context.Context, tenant string, level, index int64) ([]byte, error) {
	if data, ok := t.buf.tile(tileKey{tenant, level, index}); ok {
		return data, nil
	}
	var data []byte
	err := t.queryRow(ctx, `SELECT data FROM ledger_tiles WHERE tenant = ? AND level = ? AND idx = ?`, tenant, level, index).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, dbErr("reading a ledger tile", err)
}

func (t *txn) ReadTiles(ctx context.Context, tenant string, at []scimtrail.Tile) ([]scimtrail.Tile, error) {
	var out []scimtrail.Tile
	var q strings.Builder
	var args []any
	for _, tl := range at {
		if data, ok := t.buf.tile(tileKey{tenant, tl.Level, tl.Index}); ok {
			out = append(out, scimtrail.Tile{Level: tl.Level, Index: tl.Index, Data: data})
			continue
		}
		// A UNION ALL of primary-key lookups: each arm is one index seek, and the text
		// depends only on the count, so the statement cache keeps a few.
		if len(args) > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString(`SELECT level, idx, data FROM ledger_tiles WHERE tenant = ? AND level = ? AND idx = ?`)
		args = append(args, tenant, tl.Level, tl.Index)
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := t.query(ctx, q.String(), args...)
	if err != nil {
		return nil, dbErr("reading ledger tiles", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tl scimtrail.Tile
		if err := rows.Scan(&tl.Level, &tl.Index, &tl.Data); err != nil {
			return nil, dbErr("reading ledger tiles", err)
		}
		out = append(out, tl)
	}
	return out, dbErr("reading ledger tiles", rows.Err())
}

func (t *txn) PutTiles(ctx context.Context, tenant string, tiles []scimtrail.Tile) error {
	if t.buf != nil {
		for _, tl := range tiles {
			t.buf.cmdTiles[tileKey{tenant, tl.Level, tl.Index}] = tl.Data
		}
		return nil
	}
	return t.storeTiles(ctx, tenant, tiles)
}

// storeTiles writes tiles to the database.
func (t *txn) storeTiles(ctx context.Context, tenant string, tiles []scimtrail.Tile) error {
	for _, tl := range tiles {
		if _, err := t.exec(ctx, `INSERT INTO ledger_tiles (tenant, level, idx, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant, level, idx) DO UPDATE SET data = excluded.data`, tenant, tl.Level, tl.Index, tl.Data); err != nil {
			return dbErr("storing ledger tiles", err)
		}
	}
	return nil
}

func (t *txn) LeafHashes(ctx context.Context, tenant string, after int64, limit int) ([][]byte, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := t.query(ctx, `SELECT leaf_hash FROM ledger_entries WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, after, limit)
	if err != nil {
		return nil, dbErr("reading leaf hashes", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, dbErr("reading leaf hashes", err)
		}
		out = append(out, h)
	}
	return out, dbErr("reading leaf hashes", rows.Err())
}

func (t *txn) ScanEntryHashes(ctx context.Context, tenant string, after int64, limit int, fn func(seq int64, body, leafHash []byte) error) error {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := t.query(ctx, `SELECT seq, body, leaf_hash FROM ledger_entries WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, after, limit)
	if err != nil {
		return dbErr("reading ledger entries", err)
	}
	defer rows.Close()
	// RawBytes point into the driver's row: no copy per column, which is most of what a
	// scan into []byte and strings costs.
	var seq int64
	var body, leaf sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&seq, &body, &leaf); err != nil {
			return dbErr("reading ledger entries", err)
		}
		if len(body) == 0 {
			body = nil // pruned: stored as an empty blob (migration 00009)
		}
		if err := fn(seq, body, leaf); err != nil {
			return err
		}
	}
	return dbErr("reading ledger entries", rows.Err())
}

func (t *txn) Checkpoints(ctx context.Context, tenant string) ([]scimtrail.StoredCheckpoint, error) {
	rows, err := t.query(ctx, `SELECT size, root, note, signed_us FROM checkpoints WHERE tenant = ? ORDER BY size`, tenant)
	if err != nil {
		return nil, dbErr("reading checkpoints", err)
	}
	defer rows.Close()
	var out []scimtrail.StoredCheckpoint
	for rows.Next() {
		c := scimtrail.StoredCheckpoint{Tenant: tenant}
		var signed sql.NullInt64
		if err := rows.Scan(&c.Size, &c.Root, &c.Note, &signed); err != nil {
			return nil, dbErr("reading checkpoints", err)
		}
		c.Signed = fromOptMicros(signed)
		out = append(out, c)
	}
	return out, dbErr("reading checkpoints", rows.Err())
}

func (t *txn) LatestCheckpoint(ctx context.Context, tenant string) (scimtrail.StoredCheckpoint, error) {
	c := scimtrail.StoredCheckpoint{Tenant: tenant}
	var signed sql.NullInt64
	err := t.queryRow(ctx, `SELECT size, root, note, signed_us FROM checkpoints WHERE tenant = ? ORDER BY size DESC LIMIT 1`, tenant).Scan(&c.Size, &c.Root, &c.Note, &signed)
	c.Signed = fromOptMicros(signed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("the log of tenant %q has no checkpoint yet", tenant)
	}
	return c, dbErr("reading a checkpoint", err)
}

func (t *txn) UncheckpointedHeads(ctx context.Context) ([]scimtrail.LedgerHead, error) {
	if err := t.flushHeads(ctx); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT h.tenant, h.size, h.compact_range FROM ledger_heads h
		WHERE h.size > coalesce((SELECT max(c.size) FROM checkpoints c WHERE c.tenant = h.tenant), 0)
		ORDER BY h.tenant`)
	if err != nil {
		return nil, dbErr("reading ledger heads", err)
	}
	defer rows.Close()
	var out []scimtrail.LedgerHead
	for rows.Next() {
		var h scimtrail.LedgerHead
		if err := rows.Scan(&h.Tenant, &h.Size, &h.Range); err != nil {
			return nil, dbErr("reading ledger heads", err)
		}
		out = append(out, h)
	}
	return out, dbErr("reading ledger heads", rows.Err())
}

func (t *txn) InsertCheckpoint(ctx context.Context, c scimtrail.StoredCheckpoint) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO checkpoints (tenant, size, root, note, signed_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, size) DO NOTHING`, c.Tenant, c.Size, c.Root, c.Note, optMicros(c.Signed))
	if err != nil {
		return false, dbErr("storing a checkpoint", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("storing a checkpoint", err)
}

func (t *txn) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := t.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("setting %q is not set", key)
	}
	return v, dbErr("reading a setting", err)
}

func (t *txn) InsertSetting(ctx context.Context, key, value string) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value)
	if err != nil {
		return false, dbErr("storing a setting", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("storing a setting", err)
}

// tileKey is a tile's position in a tenant's tree.
type tileKey struct {
	tenant       string
	level, index int64
}

// ledgerBuffer holds what a writer batch's commands store in the ledger's tree and heads
// until just before its COMMIT. Every command appending to a log rewrites the partial level-0
// tile of its right edge (up to 8 KiB) and the log's head row, and reads both first; with
// group commit, a batch of N commands to one log would read and write those rows N times.
// Buffered, each tile position and head is written once per batch and read from memory. A
// command's writes join the batch's only when its SAVEPOINT is released, and are dropped when
// it rolls back, so what is flushed matches exactly the entries the batch commits.
type ledgerBuffer struct {
	tiles, cmdTiles map[tileKey][]byte
	heads, cmdHeads map[string]scimtrail.LedgerHead
	// read holds heads as read from the database, so a log's head is read once per batch.
	read map[string]scimtrail.LedgerHead
}

func newLedgerBuffer() *ledgerBuffer {
	return &ledgerBuffer{
		tiles: map[tileKey][]byte{}, cmdTiles: map[tileKey][]byte{},
		heads: map[string]scimtrail.LedgerHead{}, cmdHeads: map[string]scimtrail.LedgerHead{},
		read: map[string]scimtrail.LedgerHead{},
	}
}

// tile returns the newest buffered tile at k: the running command's, else the batch's.
func (b *ledgerBuffer) tile(k tileKey) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	if d, ok := b.cmdTiles[k]; ok {
		return d, true
	}
	d, ok := b.tiles[k]
	return d, ok
}

// head returns the newest known head of tenant's log: the running command's, the batch's,
// or the one read from the database earlier in the batch.
func (b *ledgerBuffer) head(tenant string) (scimtrail.LedgerHead, bool) {
	if b == nil {
		return scimtrail.LedgerHead{}, false
	}
	if h, ok := b.cmdHeads[tenant]; ok {
		return h, true
	}
	if h, ok := b.heads[tenant]; ok {
		return h, true
	}
	h, ok := b.read[tenant]
	return h, ok
}

// keep moves the command's writes into the batch (its SAVEPOINT was released).
func (b *ledgerBuffer) keep() {
	for k, d := range b.cmdTiles {
		b.tiles[k] = d
	}
	for t, h := range b.cmdHeads {
		b.heads[t] = h
	}
	clear(b.cmdTiles)
	clear(b.cmdHeads)
}

// discard drops the command's writes (its SAVEPOINT is rolled back).
func (b *ledgerBuffer) discard() {
	clear(b.cmdTiles)
	clear(b.cmdHeads)
}

// flushLedger writes the batch's buffered tiles and heads, once each, inside the batch's
// transaction. Heads go before anything reads ledger_heads with SQL (UncheckpointedHeads).
func (t *txn) flushLedger(ctx context.Context) error {
	if t.buf == nil {
		return nil
	}
	for k, d := range t.buf.tiles {
		if err := t.storeTiles(ctx, k.tenant, []scimtrail.Tile{{Level: k.level, Index: k.index, Data: d}}); err != nil {
			return err
		}
	}
	clear(t.buf.tiles)
	return t.flushHeads(ctx)
}

// flushHeads writes the buffered heads. The running command's are written too but stay
// buffered as the command's: its SAVEPOINT undoes the rows if it rolls back.
func (t *txn) flushHeads(ctx context.Context) error {
	if t.buf == nil {
		return nil
	}
	for tenant, h := range t.buf.heads {
		if err := t.storeHead(ctx, h); err != nil {
			return err
		}
		t.buf.read[tenant] = h
	}
	clear(t.buf.heads)
	for _, h := range t.buf.cmdHeads {
		if err := t.storeHead(ctx, h); err != nil {
			return err
		}
	}
	return nil
}
