package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Export sinks and their cursors (scimtrail.ExportReadTx, scimtrail.ExportTx).

const sinkColumns = `id, tenant, type, config, secret, from_seq, state, failures, last_error, created, updated`

func scanSink(row pgx.Row) (scimtrail.Sink, error) {
	var s scimtrail.Sink
	var config []byte
	if err := row.Scan(&s.ID, &s.Tenant, &s.Type, &config, &s.Secret, &s.FromSeq, &s.State,
		&s.Failures, &s.LastError, &s.Created, &s.Updated); err != nil {
		return s, err
	}
	s.Config = config
	s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
	return s, nil
}

func (t *tx) Sink(ctx context.Context, id string) (scimtrail.Sink, error) {
	s, err := scanSink(t.tx.QueryRow(ctx, `SELECT `+sinkColumns+` FROM sinks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return scimtrail.Sink{}, notFound("sink %q does not exist", id)
	}
	if err != nil {
		return scimtrail.Sink{}, fmt.Errorf("postgres: sink %q: %w", id, err)
	}
	return s, nil
}

func (t *tx) Sinks(ctx context.Context, tenant string) ([]scimtrail.Sink, error) {
	return t.sinks(ctx, `SELECT `+sinkColumns+` FROM sinks WHERE tenant = $1 ORDER BY created, id`, tenant)
}

func (t *tx) AllSinks(ctx context.Context) ([]scimtrail.Sink, error) {
	return t.sinks(ctx, `SELECT `+sinkColumns+` FROM sinks ORDER BY created, id`)
}

func (t *tx) sinks(ctx context.Context, query string, args ...any) ([]scimtrail.Sink, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: sinks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.Sink, error) { return scanSink(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: sinks: %w", err)
	}
	return out, nil
}

func (t *tx) SinkCursors(ctx context.Context, sink string) ([]scimtrail.SinkCursor, error) {
	rows, err := t.tx.Query(ctx, `SELECT tenant, last_seq, checkpoint_size FROM sink_cursors WHERE sink = $1 ORDER BY tenant`, sink)
	if err != nil {
		return nil, fmt.Errorf("postgres: cursors of sink %q: %w", sink, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.SinkCursor, error) {
		c := scimtrail.SinkCursor{Sink: sink}
		err := row.Scan(&c.Tenant, &c.LastSeq, &c.Checkpoint)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cursors of sink %q: %w", sink, err)
	}
	return out, nil
}

func (t *tx) InsertSink(ctx context.Context, s scimtrail.Sink) error {
	tag, err := t.tx.Exec(ctx, `INSERT INTO sinks (`+sinkColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT DO NOTHING`,
		s.ID, s.Tenant, s.Type, []byte(s.Config), s.Secret, s.FromSeq, s.State, s.Failures, s.LastError, s.Created, s.Updated)
	if err != nil {
		return fmt.Errorf("postgres: insert sink %q: %w", s.ID, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "sink %q already exists", s.ID)
	}
	return nil
}

func (t *tx) UpdateSink(ctx context.Context, s scimtrail.Sink) error {
	tag, err := t.tx.Exec(ctx, `UPDATE sinks SET config = $2, secret = $3, updated = $4 WHERE id = $1`,
		s.ID, []byte(s.Config), s.Secret, s.Updated)
	if err != nil {
		return fmt.Errorf("postgres: update sink %q: %w", s.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("sink %q does not exist", s.ID)
	}
	return nil
}

func (t *tx) SetSinkState(ctx context.Context, s scimtrail.Sink) error {
	tag, err := t.tx.Exec(ctx, `UPDATE sinks SET state = $2, failures = $3, last_error = $4, updated = $5 WHERE id = $1`,
		s.ID, s.State, s.Failures, s.LastError, s.Updated)
	if err != nil {
		return fmt.Errorf("postgres: update state of sink %q: %w", s.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("sink %q does not exist", s.ID)
	}
	return nil
}

func (t *tx) DeleteSink(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM sinks WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete sink %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("sink %q does not exist", id)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM sink_cursors WHERE sink = $1`, id); err != nil {
		return fmt.Errorf("postgres: delete cursors of sink %q: %w", id, err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM sink_leases WHERE sink = $1`, id); err != nil {
		return fmt.Errorf("postgres: delete lease of sink %q: %w", id, err)
	}
	return nil
}

func (t *tx) SetSinkCursor(ctx context.Context, c scimtrail.SinkCursor) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO sink_cursors (sink, tenant, last_seq, checkpoint_size) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sink, tenant) DO UPDATE SET last_seq = GREATEST(sink_cursors.last_seq, excluded.last_seq),
			checkpoint_size = GREATEST(sink_cursors.checkpoint_size, excluded.checkpoint_size)`,
		c.Sink, c.Tenant, c.LastSeq, c.Checkpoint)
	if err != nil {
		return fmt.Errorf("postgres: move cursor of sink %q in %q: %w", c.Sink, c.Tenant, err)
	}
	return nil
}

func (t *tx) CheckpointsBetween(ctx context.Context, tenant string, after, upTo int64, limit int) ([]scimtrail.StoredCheckpoint, error) {
	rows, err := t.tx.Query(ctx, `SELECT size, root, note, signed FROM checkpoints WHERE tenant = $1 AND size > $2 AND size <= $3
		ORDER BY size LIMIT $4`, tenant, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints of %q: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.StoredCheckpoint, error) {
		c := scimtrail.StoredCheckpoint{Tenant: tenant}
		var signed *time.Time
		err := row.Scan(&c.Size, &c.Root, &c.Note, &signed)
		c.Signed = fromNullTime(signed)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints of %q: %w", tenant, err)
	}
	return out, nil
}

func (t *tx) SinkLease(ctx context.Context, sink string) (string, time.Time, error) {
	var holder string
	var expires time.Time
	err := t.tx.QueryRow(ctx, `SELECT holder, expires FROM sink_leases WHERE sink = $1`, sink).Scan(&holder, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, notFound("sink %q has no lease", sink)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("postgres: lease of sink %q: %w", sink, err)
	}
	return holder, expires.UTC(), nil
}

// AcquireSinkLease ignores now: expiry is judged by the database's clock, the one clock
// every replica shares.
func (t *tx) AcquireSinkLease(ctx context.Context, sink, holder string, _ time.Time, ttl time.Duration) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO sink_leases (sink, holder, expires)
		VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
		ON CONFLICT (sink) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE sink_leases.holder = excluded.holder OR sink_leases.expires < clock_timestamp()`,
		sink, holder, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("postgres: lease of sink %q: %w", sink, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) ReleaseSinkLease(ctx context.Context, sink, holder string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM sink_leases WHERE sink = $1 AND holder = $2`, sink, holder); err != nil {
		return fmt.Errorf("postgres: release lease of sink %q: %w", sink, err)
	}
	return nil
}
