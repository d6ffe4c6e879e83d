package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// App events (store_events.go).

func (t *tx) EventSettings(ctx context.Context, tenant string) (scimtrail.EventSettings, error) {
	s := scimtrail.EventSettings{Tenant: tenant}
	err := t.tx.QueryRow(ctx, `SELECT unknown_actions, updated FROM app_event_settings WHERE tenant = $1`, tenant).
		Scan(&s.UnknownActions, &s.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("postgres: event settings of %q: %w", tenant, err)
	}
	s.Updated = s.Updated.UTC()
	return s, nil
}

func (t *tx) PutEventSettings(ctx context.Context, s scimtrail.EventSettings) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO app_event_settings (tenant, unknown_actions, updated) VALUES ($1, $2, $3)
		ON CONFLICT (tenant) DO UPDATE SET unknown_actions = excluded.unknown_actions, updated = excluded.updated`,
		s.Tenant, s.UnknownActions, s.Updated)
	if err != nil {
		return fmt.Errorf("postgres: store event settings of %q: %w", s.Tenant, err)
	}
	return nil
}

const eventSchemaCols = `tenant, action, version, metadata_schema, targets_schema, created, seq`

func scanEventSchema(row pgx.Row) (scimtrail.EventSchema, error) {
	var s scimtrail.EventSchema
	var meta, targets []byte
	err := row.Scan(&s.Tenant, &s.Action, &s.Version, &meta, &targets, &s.Created, &s.Seq)
	if len(meta) > 0 {
		s.Metadata = json.RawMessage(meta)
	}
	if len(targets) > 0 {
		s.Targets = json.RawMessage(targets)
	}
	s.Created = s.Created.UTC()
	return s, err
}

func (t *tx) EventSchema(ctx context.Context, tenant, action string, version int) (scimtrail.EventSchema, error) {
	var row pgx.Row
	if version == 0 {
		row = t.tx.QueryRow(ctx, `SELECT `+eventSchemaCols+` FROM app_event_schemas
			WHERE tenant = $1 AND action = $2 ORDER BY version DESC LIMIT 1`, tenant, action)
	} else {
		row = t.tx.QueryRow(ctx, `SELECT `+eventSchemaCols+` FROM app_event_schemas
			WHERE tenant = $1 AND action = $2 AND version = $3`, tenant, action, version)
	}
	s, err := scanEventSchema(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return scimtrail.EventSchema{}, scimtrail.Errorf(scimtrail.ENOTFOUND, "no schema for action %q", action)
	}
	if err != nil {
		return scimtrail.EventSchema{}, fmt.Errorf("postgres: event schema %q: %w", action, err)
	}
	return s, nil
}

func (t *tx) EventSchemas(ctx context.Context, tenant string) ([]scimtrail.EventSchema, error) {
	rows, err := t.tx.Query(ctx, `SELECT DISTINCT ON (action) `+eventSchemaCols+` FROM app_event_schemas
		WHERE tenant = $1 ORDER BY action, version DESC`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: event schemas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.EventSchema, error) { return scanEventSchema(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: event schemas: %w", err)
	}
	return out, nil
}

func (t *tx) InsertEventSchema(ctx context.Context, s scimtrail.EventSchema) error {
	tag, err := t.tx.Exec(ctx, `INSERT INTO app_event_schemas (`+eventSchemaCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`,
		s.Tenant, s.Action, s.Version, nullBytes(s.Metadata), nullBytes(s.Targets), s.Created, s.Seq)
	if err != nil {
		return fmt.Errorf("postgres: insert event schema %q: %w", s.Action, err)
	}
	if tag.RowsAffected() == 0 {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "version %d of the schema for %q exists already", s.Version, s.Action)
	}
	return nil
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

func (t *tx) EventKeys(ctx context.Context, tenant string, keyHashes [][]byte, since time.Time) ([]scimtrail.EventKey, error) {
	if len(keyHashes) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT key_hash, request_hash, seqs, created FROM app_event_keys
		WHERE tenant = $1 AND created >= $2 AND key_hash = ANY($3)`, tenant, since, keyHashes)
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotency keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.EventKey, error) {
		k := scimtrail.EventKey{Tenant: tenant}
		err := row.Scan(&k.KeyHash, &k.RequestHash, &k.Seqs, &k.Created)
		k.Created = k.Created.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotency keys: %w", err)
	}
	return out, nil
}

func (t *tx) InsertEventKeys(ctx context.Context, keys []scimtrail.EventKey) error {
	for _, k := range keys {
		seqs := k.Seqs
		if seqs == nil {
			seqs = []int64{}
		}
		tag, err := t.tx.Exec(ctx, `INSERT INTO app_event_keys (tenant, key_hash, request_hash, seqs, created)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.Tenant, k.KeyHash, k.RequestHash, seqs, k.Created)
		if err != nil {
			return fmt.Errorf("postgres: store idempotency key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "the idempotency key was used by another request")
		}
	}
	return nil
}

func (t *tx) DeleteEventKeys(ctx context.Context, tenant string, before time.Time) (int64, error) {
	var err error
	var n int64
	if tenant == "" {
		tag, e := t.tx.Exec(ctx, `DELETE FROM app_event_keys WHERE created < $1`, before)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := t.tx.Exec(ctx, `DELETE FROM app_event_keys WHERE tenant = $1 AND created < $2`, tenant, before)
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: delete idempotency keys: %w", err)
	}
	return n, nil
}

func (t *tx) AppRoleGrants(ctx context.Context, tenant, userID string) ([]scimtrail.AppRoleGrant, error) {
	var rows pgx.Rows
	var err error
	if userID == "" {
		rows, err = t.tx.Query(ctx, `SELECT user_id, role, granted, seq, granted_by FROM app_role_grants WHERE tenant = $1 ORDER BY user_id, role`, tenant)
	} else {
		rows, err = t.tx.Query(ctx, `SELECT user_id, role, granted, seq, granted_by FROM app_role_grants WHERE tenant = $1 AND user_id = $2 ORDER BY role`, tenant, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: app role grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.AppRoleGrant, error) {
		g := scimtrail.AppRoleGrant{Tenant: tenant}
		err := row.Scan(&g.UserID, &g.Role, &g.Granted, &g.Seq, &g.By)
		g.Granted = g.Granted.UTC()
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: app role grants: %w", err)
	}
	return out, nil
}

func (t *tx) GrantAppRole(ctx context.Context, g scimtrail.AppRoleGrant) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO app_role_grants (tenant, user_id, role, granted, seq, granted_by) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`, g.Tenant, g.UserID, g.Role, g.Granted, g.Seq, g.By)
	if err != nil {
		return false, fmt.Errorf("postgres: grant app role: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) RevokeAppRole(ctx context.Context, tenant, userID, role string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM app_role_grants WHERE tenant = $1 AND user_id = $2 AND role = $3`, tenant, userID, role)
	if err != nil {
		return false, fmt.Errorf("postgres: revoke app role: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
