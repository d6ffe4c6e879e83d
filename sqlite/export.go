package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Export sinks and their cursors (scimtrail.ExportReadTx, scimtrail.ExportTx).

const sinkCols = `id, tenant, type, config, secret, from_seq, state, failures, last_error, created_us, updated_us`

func scanSink(sc interface{ Scan(...any) error }) (scimtrail.Sink, error) {
	var s scimtrail.Sink
	var config []byte
	var created, updated int64
	if err := sc.Scan(&s.ID, &s.Tenant, &s.Type, &config, &s.Secret, &s.FromSeq, &s.State,
		&s.Failures, &s.LastError, &created, &updated); err != nil {
		return s, err
	}
	s.Config = config
	s.Created, s.Updated = fromMicros(created), fromMicros(updated)
	return s, nil
}

func (t *txn) Sink(ctx context.Context, id string) (scimtrail.Sink, error) {
	s, err := scanSink(t.queryRow(ctx, `SELECT `+sinkCols+` FROM sinks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.Sink{}, notFound("sink %q does not exist", id)
	}
	if err != nil {
		return scimtrail.Sink{}, dbErr("reading a sink", err)
	}
	return s, nil
}

func (t *txn) Sinks(ctx context.Context, tenant string) ([]scimtrail.Sink, error) {
	return t.sinks(ctx, `SELECT `+sinkCols+` FROM sinks WHERE tenant = ? ORDER BY created_us, id`, tenant)
}

func (t *txn) AllSinks(ctx context.Context) ([]scimtrail.Sink, error) {
	return t.sinks(ctx, `SELECT `+sinkCols+` FROM sinks ORDER BY created_us, id`)
}

func (t *txn) sinks(ctx context.Context, query string, args ...any) ([]scimtrail.Sink, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, dbErr("listing sinks", err)
	}
	return collect(rows, "listing sinks", scanSink)
}

func (t *txn) SinkCursors(ctx context.Context, sink string) ([]scimtrail.SinkCursor, error) {
	rows, err := t.query(ctx, `SELECT tenant, last_seq, checkpoint_size FROM sink_cursors WHERE sink = ? ORDER BY tenant`, sink)
	if err != nil {
		return nil, dbErr("reading sink cursors", err)
	}
	defer rows.Close()
	var out []scimtrail.SinkCursor
	for rows.Next() {
		c := scimtrail.SinkCursor{Sink: sink}
		if err := rows.Scan(&c.Tenant, &c.LastSeq, &c.Checkpoint); err != nil {
			return nil, dbErr("reading sink cursors", err)
		}
		out = append(out, c)
	}
	return out, dbErr("reading sink cursors", rows.Err())
}

func (t *txn) InsertSink(ctx context.Context, s scimtrail.Sink) error {
	_, err := t.exec(ctx, `INSERT INTO sinks (`+sinkCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Tenant, s.Type, []byte(s.Config), s.Secret, s.FromSeq, s.State, s.Failures, s.LastError,
		micros(s.Created), micros(s.Updated))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "sink %q already exists", s.ID)
	}
	return dbErr("inserting a sink", err)
}

func (t *txn) UpdateSink(ctx context.Context, s scimtrail.Sink) error {
	res, err := t.exec(ctx, `UPDATE sinks SET config = ?, secret = ?, updated_us = ? WHERE id = ?`,
		[]byte(s.Config), s.Secret, micros(s.Updated), s.ID)
	return affectedOne(res, err, "updating a sink", func() error { return notFound("sink %q does not exist", s.ID) })
}

func (t *txn) SetSinkState(ctx context.Context, s scimtrail.Sink) error {
	res, err := t.exec(ctx, `UPDATE sinks SET state = ?, failures = ?, last_error = ?, updated_us = ? WHERE id = ?`,
		s.State, s.Failures, s.LastError, micros(s.Updated), s.ID)
	return affectedOne(res, err, "updating a sink's state", func() error { return notFound("sink %q does not exist", s.ID) })
}

func (t *txn) DeleteSink(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM sinks WHERE id = ?`, id)
	if err := affectedOne(res, err, "deleting a sink", func() error { return notFound("sink %q does not exist", id) }); err != nil {
		return err
	}
	if _, err = t.exec(ctx, `DELETE FROM sink_cursors WHERE sink = ?`, id); err != nil {
		return dbErr("deleting a sink's cursors", err)
	}
	_, err = t.exec(ctx, `DELETE FROM sink_leases WHERE sink = ?`, id)
	return dbErr("deleting a sink's lease", err)
}

func (t *txn) SetSinkCursor(ctx context.Context, c scimtrail.SinkCursor) error {
	_, err := t.exec(ctx, `INSERT INTO sink_cursors (sink, tenant, last_seq, checkpoint_size) VALUES (?, ?, ?, ?)
		ON CONFLICT (sink, tenant) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq),
			checkpoint_size = max(checkpoint_size, excluded.checkpoint_size)`, c.Sink, c.Tenant, c.LastSeq, c.Checkpoint)
	return dbErr("moving a sink cursor", err)
}

func (t *txn) CheckpointsBetween(ctx context.Context, tenant string, after, upTo int64, limit int) ([]scimtrail.StoredCheckpoint, error) {
	rows, err := t.query(ctx, `SELECT size, root, note, signed_us FROM checkpoints WHERE tenant = ? AND size > ? AND size <= ?
		ORDER BY size LIMIT ?`, tenant, after, upTo, limit)
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

func (t *txn) SinkLease(ctx context.Context, sink string) (string, time.Time, error) {
	var holder string
	var expires int64
	err := t.queryRow(ctx, `SELECT holder, expires_us FROM sink_leases WHERE sink = ?`, sink).Scan(&holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, notFound("sink %q has no lease", sink)
	}
	if err != nil {
		return "", time.Time{}, dbErr("reading a sink lease", err)
	}
	return holder, fromMicros(expires), nil
}

func (t *txn) AcquireSinkLease(ctx context.Context, sink, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO sink_leases (sink, holder, expires_us) VALUES (?, ?, ?)
		ON CONFLICT (sink) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us
		WHERE sink_leases.holder = excluded.holder OR sink_leases.expires_us < ?`,
		sink, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, dbErr("taking a sink lease", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("taking a sink lease", err)
}

func (t *txn) ReleaseSinkLease(ctx context.Context, sink, holder string) error {
	_, err := t.exec(ctx, `DELETE FROM sink_leases WHERE sink = ? AND holder = ?`, sink, holder)
	return dbErr("releasing a sink lease", err)
}
