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

func (t *tx) ExternalPolicy(ctx context.Context, tenant string) (scimtrail.ExternalPolicy, error) {
	p := scimtrail.ExternalPolicy{Tenant: tenant}
	var domains string
	err := t.tx.QueryRow(ctx, `SELECT domains, bar_privileged, grant_days, updated FROM external_policies WHERE tenant = $1`, tenant).
		Scan(&domains, &p.BarPrivileged, &p.GrantDays, &p.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("postgres: external policy: %w", err)
	}
	p.Updated = p.Updated.UTC()
	return p, json.Unmarshal([]byte(domains), &p.Domains)
}

func (t *tx) PutExternalPolicy(ctx context.Context, p scimtrail.ExternalPolicy) error {
	d := p.Domains
	if d == nil {
		d = []string{}
	}
	domains, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO external_policies (tenant, domains, bar_privileged, grant_days, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant) DO UPDATE SET domains = excluded.domains, bar_privileged = excluded.bar_privileged,
			grant_days = excluded.grant_days, updated = excluded.updated`,
		p.Tenant, string(domains), p.BarPrivileged, p.GrantDays, p.Updated)
	if err != nil {
		return fmt.Errorf("postgres: store external policy: %w", err)
	}
	return nil
}

func (t *tx) ExternalAt(ctx context.Context, tenant string, userIDs []string, at time.Time) (map[string]scimtrail.ExternalChange, error) {
	rows, err := t.tx.Query(ctx, `SELECT DISTINCT ON (user_id) user_id, changed_at, external, reason FROM external_changes
		WHERE tenant = $1 AND changed_at <= $2 AND ($3::text[] IS NULL OR user_id = ANY($3::text[]))
		ORDER BY user_id, changed_at DESC`, tenant, at, userIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: external statuses: %w", err)
	}
	defer rows.Close()
	out := map[string]scimtrail.ExternalChange{}
	for rows.Next() {
		c := scimtrail.ExternalChange{Tenant: tenant}
		if err := rows.Scan(&c.UserID, &c.At, &c.External, &c.Reason); err != nil {
			return nil, fmt.Errorf("postgres: external statuses: %w", err)
		}
		c.At = c.At.UTC()
		out[c.UserID] = c
	}
	return out, rows.Err()
}

func (t *tx) InsertExternalChanges(ctx context.Context, cs []scimtrail.ExternalChange) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	tenants, users, reasons, ats, exts := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n), make([]bool, n)
	for i, c := range cs {
		tenants[i], users[i], reasons[i], ats[i], exts[i] = c.Tenant, c.UserID, c.Reason, c.At, c.External
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO external_changes (tenant, user_id, changed_at, external, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[], $5::text[])
		ON CONFLICT (tenant, user_id, changed_at) DO UPDATE SET external = excluded.external, reason = excluded.reason`,
		tenants, users, ats, exts, reasons)
	if err != nil {
		return fmt.Errorf("postgres: record external statuses: %w", err)
	}
	return nil
}

const refusalCols = `tenant, user_id, role, path, reason, from_at, to_at, seq`

func (t *tx) refusals(ctx context.Context, query string, args ...any) ([]scimtrail.AccessRefusal, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: refused access: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.AccessRefusal
	for rows.Next() {
		var r scimtrail.AccessRefusal
		var path string
		var to *time.Time
		if err := rows.Scan(&r.Tenant, &r.UserID, &r.Role, &path, &r.Reason, &r.From, &to, &r.Seq); err != nil {
			return nil, fmt.Errorf("postgres: refused access: %w", err)
		}
		r.From, r.To = r.From.UTC(), fromNullTime(to)
		if err := json.Unmarshal([]byte(path), &r.Path); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *tx) OpenRefusals(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.AccessRefusal, error) {
	return t.refusals(ctx, `SELECT `+refusalCols+` FROM access_refusals
		WHERE tenant = $1 AND to_at IS NULL AND ($2::text[] IS NULL OR user_id = ANY($2::text[]))
		ORDER BY user_id, role, path_key`, tenant, userIDs)
}

func (t *tx) RefusalsAt(ctx context.Context, tenant string, at time.Time) ([]scimtrail.AccessRefusal, error) {
	return t.refusals(ctx, `SELECT `+refusalCols+` FROM access_refusals
		WHERE tenant = $1 AND from_at <= $2 AND (to_at IS NULL OR to_at > $2) ORDER BY user_id, role, path_key`, tenant, at)
}

func (t *tx) InsertRefusals(ctx context.Context, rs []scimtrail.AccessRefusal) error {
	for _, r := range rs {
		path, err := json.Marshal(r.Path)
		if err != nil {
			return err
		}
		_, err = t.tx.Exec(ctx, `INSERT INTO access_refusals (tenant, user_id, role, path_key, path, reason, from_at, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Tenant, r.UserID, r.Role, r.Path.Key(), string(path), r.Reason, r.From, r.Seq)
		if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "that access is already refused")
		}
		if err != nil {
			return fmt.Errorf("postgres: record refused access: %w", err)
		}
	}
	return nil
}

func (t *tx) CloseRefusals(ctx context.Context, rs []scimtrail.AccessRefusal) error {
	for _, r := range rs {
		tag, err := t.tx.Exec(ctx, `UPDATE access_refusals SET to_at = $1
			WHERE tenant = $2 AND user_id = $3 AND role = $4 AND path_key = $5 AND to_at IS NULL`,
			r.To, r.Tenant, r.UserID, r.Role, r.Path.Key())
		if err != nil {
			return fmt.Errorf("postgres: end refused access: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return notFound("user %q has no refused access to role %q through that path", r.UserID, r.Role)
		}
	}
	return nil
}
