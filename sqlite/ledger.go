package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/scimtrail/scimtrail"
)

// The ledger's tree (tiles), checkpoints and settings (scimtrail.LedgerReadTx, LedgerTx).

func (t *txn) ReadTile(ctx context.Context, tenant string, level, index int64) ([]byte, error) {
	if data, ok := t.tiles.get(tileKey{tenant, level, index}); ok {
		return data, nil
	}
	var data []byte
	err := t.queryRow(ctx, `SELECT data FROM ledger_tiles WHERE tenant = ? AND level = ? AND idx = ?`, tenant, level, index).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return data, dbErr("reading a ledger tile", err)
}

func (t *txn) PutTiles(ctx context.Context, tenant string, tiles []scimtrail.Tile) error {
	if t.tiles != nil {
		for _, tl := range tiles {
			t.tiles.cmd[tileKey{tenant, tl.Level, tl.Index}] = tl.Data
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

// tileBuffer holds the tiles a writer batch's commands store until just before its COMMIT.
// Every command appending to a log rewrites the partial level-0 tile of its right edge (up to
// 8 KiB) and reads it back first; with group commit, a batch of N commands to one log would
// write that row N times. Buffered, each tile position is written once per batch and read
// from memory. A command's tiles join the batch's only when its SAVEPOINT is released, and are
// dropped when it rolls back, so the tiles match exactly the entries the batch commits.
type tileBuffer struct {
	batch, cmd map[tileKey][]byte
}

func newTileBuffer() *tileBuffer {
	return &tileBuffer{batch: map[tileKey][]byte{}, cmd: map[tileKey][]byte{}}
}

// get returns the newest buffered tile at k: the running command's, else the batch's.
func (b *tileBuffer) get(k tileKey) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	if d, ok := b.cmd[k]; ok {
		return d, true
	}
	d, ok := b.batch[k]
	return d, ok
}

// keep moves the command's tiles into the batch (its SAVEPOINT was released).
func (b *tileBuffer) keep() {
	for k, d := range b.cmd {
		b.batch[k] = d
	}
	clear(b.cmd)
}

// discard drops the command's tiles (its SAVEPOINT is rolled back).
func (b *tileBuffer) discard() { clear(b.cmd) }

// flushTiles writes the batch's buffered tiles, once each, inside the batch's transaction.
func (t *txn) flushTiles(ctx context.Context) error {
	if t.tiles == nil {
		return nil
	}
	for k, d := range t.tiles.batch {
		if err := t.storeTiles(ctx, k.tenant, []scimtrail.Tile{{Level: k.level, Index: k.index, Data: d}}); err != nil {
			return err
		}
	}
	clear(t.tiles.batch)
	return nil
}
