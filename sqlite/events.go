package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

// App events (store_events.go).

func (t *txn) EventSettings(ctx context.Context, tenant string) (scimtrail.EventSettings, error) {
	s := scimtrail.EventSettings{Tenant: tenant}
	var updated int64
	err := t.queryRow(ctx, `SELECT unknown_actions, updated_us FROM app_event_settings WHERE tenant = ?`, tenant).
		Scan(&s.UnknownActions, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, dbErr("reading event settings", err)
	}
	s.Updated = fromMicros(updated)
	return s, nil
}

func (t *txn) PutEventSettings(ctx context.Context, s scimtrail.EventSettings) error {
	_, err := t.exec(ctx, `INSERT INTO app_event_settings (tenant, unknown_actions, updated_us) VALUES (?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET unknown_actions = excluded.unknown_actions, updated_us = excluded.updated_us`,
		s.Tenant, s.UnknownActions, micros(s.Updated))
	return dbErr("storing event settings", err)
}

const eventSchemaCols = `tenant, action, version, metadata_schema, targets_schema, created_us, seq`

func scanEventSchema(sc interface{ Scan(...any) error }) (scimtrail.EventSchema, error) {
	var s scimtrail.EventSchema
	var meta, targets []byte
	var created int64
	err := sc.Scan(&s.Tenant, &s.Action, &s.Version, &meta, &targets, &created, &s.Seq)
	if len(meta) > 0 {
		s.Metadata = json.RawMessage(meta)
	}
	if len(targets) > 0 {
		s.Targets = json.RawMessage(targets)
	}
	s.Created = fromMicros(created)
	return s, err
}

func (t *txn) EventSchema(ctx context.Context, tenant, action string, version int) (scimtrail.EventSchema, error) {
	var row *sql.Row
	if version == 0 {
		row = t.queryRow(ctx, `SELECT `+eventSchemaCols+` FROM app_event_schemas
			WHERE tenant = ? AND action = ? ORDER BY version DESC LIMIT 1`, tenant, action)
	} else {
		row = t.queryRow(ctx, `SELECT `+eventSchemaCols+` FROM app_event_schemas
			WHERE tenant = ? AND action = ? AND version = ?`, tenant, action, version)
	}
	s, err := scanEventSchema(row)
	if errors.Is(err, sql.ErrNoRows) {
		return scimtrail.EventSchema{}, notFound("no schema for action %q", action)
	}
	return s, dbErr("reading an event schema", err)
}

func (t *txn) EventSchemas(ctx context.Context, tenant string) ([]scimtrail.EventSchema, error) {
	rows, err := t.query(ctx, `SELECT `+eventSchemaCols+` FROM app_event_schemas s
		WHERE tenant = ? AND version = (SELECT max(version) FROM app_event_schemas
			WHERE tenant = s.tenant AND action = s.action)
		ORDER BY action`, tenant)
	if err != nil {
		return nil, dbErr("listing event schemas", err)
	}
	return collect(rows, "listing event schemas", scanEventSchema)
}

func (t *txn) InsertEventSchema(ctx context.Context, s scimtrail.EventSchema) error {
	_, err := t.exec(ctx, `INSERT INTO app_event_schemas (`+eventSchemaCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.Tenant, s.Action, s.Version, nullBytes(s.Metadata), nullBytes(s.Targets), micros(s.Created), s.Seq)
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "version %d of the schema for %q exists already", s.Version, s.Action)
	}
	return dbErr("storing an event schema", err)
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

func (t *txn) EventKeys(ctx context.Context, tenant string, keyHashes [][]byte, since time.Time) ([]scimtrail.EventKey, error) {
	if len(keyHashes) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(keyHashes)+2)
	args = append(args, tenant, micros(since))
	for _, h := range keyHashes {
		args = append(args, h)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT key_hash, request_hash, seqs, created_us FROM app_event_keys
		WHERE tenant = ? AND created_us >= ? AND key_hash IN (`+placeholders(len(keyHashes))+`)`, args...)
	if err != nil {
		return nil, dbErr("reading idempotency keys", err)
	}
	defer rows.Close()
	var out []scimtrail.EventKey
	for rows.Next() {
		k := scimtrail.EventKey{Tenant: tenant}
		var seqs string
		var created int64
		if err := rows.Scan(&k.KeyHash, &k.RequestHash, &seqs, &created); err != nil {
			return nil, dbErr("reading idempotency keys", err)
		}
		if err := json.Unmarshal([]byte(seqs), &k.Seqs); err != nil {
			return nil, dbErr("reading idempotency keys", err)
		}
		k.Created = fromMicros(created)
		out = append(out, k)
	}
	return out, dbErr("reading idempotency keys", rows.Err())
}

func (t *txn) InsertEventKeys(ctx context.Context, keys []scimtrail.EventKey) error {
	for _, k := range keys {
		seqs, err := json.Marshal(k.Seqs)
		if err != nil {
			return err
		}
		if k.Seqs == nil {
			seqs = []byte("[]")
		}
		_, err = t.exec(ctx, `INSERT INTO app_event_keys (tenant, key_hash, request_hash, seqs, created_us) VALUES (?, ?, ?, ?, ?)`,
			k.Tenant, k.KeyHash, k.RequestHash, string(seqs), micros(k.Created))
		if uniqueViolation(err) {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "the idempotency key was used by another request")
		}
		if err != nil {
			return dbErr("storing idempotency keys", err)
		}
	}
	return nil
}

func (t *txn) DeleteEventKeys(ctx context.Context, tenant string, before time.Time) (int64, error) {
	var res sql.Result
	var err error
	if tenant == "" {
		res, err = t.exec(ctx, `DELETE FROM app_event_keys WHERE created_us < ?`, micros(before))
	} else {
		res, err = t.exec(ctx, `DELETE FROM app_event_keys WHERE tenant = ? AND created_us < ?`, tenant, micros(before))
	}
	if err != nil {
		return 0, dbErr("deleting idempotency keys", err)
	}
	n, err := res.RowsAffected()
	return n, dbErr("deleting idempotency keys", err)
}

func (t *txn) AppRoleGrants(ctx context.Context, tenant, userID string) ([]scimtrail.AppRoleGrant, error) {
	var rows *sql.Rows
	var err error
	if userID == "" {
		rows, err = t.query(ctx, `SELECT user_id, role, granted_us, seq, granted_by FROM app_role_grants WHERE tenant = ? ORDER BY user_id, role`, tenant)
	} else {
		rows, err = t.query(ctx, `SELECT user_id, role, granted_us, seq, granted_by FROM app_role_grants WHERE tenant = ? AND user_id = ? ORDER BY role`, tenant, userID)
	}
	if err != nil {
		return nil, dbErr("reading app role grants", err)
	}
	defer rows.Close()
	var out []scimtrail.AppRoleGrant
	for rows.Next() {
		g := scimtrail.AppRoleGrant{Tenant: tenant}
		var granted int64
		if err := rows.Scan(&g.UserID, &g.Role, &granted, &g.Seq, &g.By); err != nil {
			return nil, dbErr("reading app role grants", err)
		}
		g.Granted = fromMicros(granted)
		out = append(out, g)
	}
	return out, dbErr("reading app role grants", rows.Err())
}

func (t *txn) GrantAppRole(ctx context.Context, g scimtrail.AppRoleGrant) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO app_role_grants (tenant, user_id, role, granted_us, seq, granted_by) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, g.Tenant, g.UserID, g.Role, micros(g.Granted), g.Seq, g.By)
	if err != nil {
		return false, dbErr("granting an app role", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("granting an app role", err)
}

func (t *txn) RevokeAppRole(ctx context.Context, tenant, userID, role string) (bool, error) {
	res, err := t.exec(ctx, `DELETE FROM app_role_grants WHERE tenant = ? AND user_id = ? AND role = ?`, tenant, userID, role)
	if err != nil {
		return false, dbErr("revoking an app role", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("revoking an app role", err)
}
