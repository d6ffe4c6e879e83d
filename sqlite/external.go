package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

func (t *txn) ExternalPolicy(ctx context.Context, tenant string) (scimtrail.ExternalPolicy, error) {
	p := scimtrail.ExternalPolicy{Tenant: tenant}
	var domains string
	var updated int64
	err := t.queryRow(ctx, `SELECT domains, bar_privileged, grant_days, updated_us FROM external_policies WHERE tenant = ?`, tenant).
		Scan(&domains, &p.BarPrivileged, &p.GrantDays, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, dbErr("reading the external policy", err)
	}
	p.Updated = fromMicros(updated)
	return p, dbErr("reading the external policy", json.Unmarshal([]byte(domains), &p.Domains))
}

func (t *txn) PutExternalPolicy(ctx context.Context, p scimtrail.ExternalPolicy) error {
	domains, err := json.Marshal(nonNil(p.Domains))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO external_policies (tenant, domains, bar_privileged, grant_days, updated_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET domains = excluded.domains, bar_privileged = excluded.bar_privileged,
			grant_days = excluded.grant_days, updated_us = excluded.updated_us`,
		p.Tenant, string(domains), p.BarPrivileged, p.GrantDays, micros(p.Updated))
	return dbErr("storing the external policy", err)
}

func (t *txn) ExternalAt(ctx context.Context, tenant string, userIDs []string, at time.Time) (map[string]scimtrail.ExternalChange, error) {
	out := map[string]scimtrail.ExternalChange{}
	err := inChunks(userIDs, func(chunk []string) error {
		cond, args := idFilter("e.user_id", chunk, []any{tenant, micros(at)})
		rows, err := t.queryIn(ctx, `SELECT e.user_id, e.at_us, e.external, e.reason FROM external_changes e
			WHERE e.tenant = ? AND e.at_us = (SELECT max(at_us) FROM external_changes l
				WHERE l.tenant = e.tenant AND l.user_id = e.user_id AND l.at_us <= ?)`+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := scimtrail.ExternalChange{Tenant: tenant}
			var us int64
			if err := rows.Scan(&c.UserID, &us, &c.External, &c.Reason); err != nil {
				return err
			}
			c.At = fromMicros(us)
			out[c.UserID] = c
		}
		return rows.Err()
	})
	return out, dbErr("reading external statuses", err)
}

func (t *txn) InsertExternalChanges(ctx context.Context, cs []scimtrail.ExternalChange) error {
	_, err := t.execRows(ctx, `INSERT INTO external_changes (tenant, user_id, at_us, external, reason) VALUES `, `(?, ?, ?, ?, ?)`,
		` ON CONFLICT (tenant, user_id, at_us) DO UPDATE SET external = excluded.external, reason = excluded.reason`, len(cs),
		func(i int, args []any) []any {
			c := cs[i]
			return append(args, c.Tenant, c.UserID, micros(c.At), c.External, c.Reason)
		})
	return dbErr("recording external statuses", err)
}

const refusalCols = `tenant, user_id, role, path, reason, from_us, to_us, seq`

func (t *txn) refusals(ctx context.Context, query string, args ...any) ([]scimtrail.AccessRefusal, error) {
	rows, err := t.queryIn(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []scimtrail.AccessRefusal
	for rows.Next() {
		var r scimtrail.AccessRefusal
		var path string
		var from int64
		var to sql.NullInt64
		if err := rows.Scan(&r.Tenant, &r.UserID, &r.Role, &path, &r.Reason, &from, &to, &r.Seq); err != nil {
			return nil, err
		}
		r.From, r.To = fromMicros(from), fromOptMicros(to)
		if err := json.Unmarshal([]byte(path), &r.Path); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *txn) OpenRefusals(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.AccessRefusal, error) {
	var out []scimtrail.AccessRefusal
	err := inChunks(userIDs, func(chunk []string) error {
		cond, args := idFilter("user_id", chunk, []any{tenant})
		rs, err := t.refusals(ctx, `SELECT `+refusalCols+` FROM access_refusals WHERE tenant = ? AND to_us IS NULL`+cond+
			` ORDER BY user_id, role, path_key`, args...)
		out = append(out, rs...)
		return err
	})
	return out, dbErr("reading refused access", err)
}

func (t *txn) RefusalsAt(ctx context.Context, tenant string, at time.Time) ([]scimtrail.AccessRefusal, error) {
	rs, err := t.refusals(ctx, `SELECT `+refusalCols+` FROM access_refusals
		WHERE tenant = ? AND from_us <= ? AND (to_us IS NULL OR to_us > ?) ORDER BY user_id, role, path_key`, tenant, micros(at), micros(at))
	return rs, dbErr("reading refused access", err)
}

func (t *txn) InsertRefusals(ctx context.Context, rs []scimtrail.AccessRefusal) error {
	paths := make([]string, len(rs))
	for i, r := range rs {
		b, err := json.Marshal(r.Path)
		if err != nil {
			return err
		}
		paths[i] = string(b)
	}
	_, err := t.execRows(ctx, `INSERT INTO access_refusals (tenant, user_id, role, path_key, path, reason, from_us, to_us, seq) VALUES `,
		`(?, ?, ?, ?, ?, ?, ?, NULL, ?)`, ``, len(rs), func(i int, args []any) []any {
			r := rs[i]
			return append(args, r.Tenant, r.UserID, r.Role, r.Path.Key(), paths[i], r.Reason, micros(r.From), r.Seq)
		})
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "that access is already refused")
	}
	return dbErr("recording refused access", err)
}

func (t *txn) CloseRefusals(ctx context.Context, rs []scimtrail.AccessRefusal) error {
	for _, r := range rs {
		res, err := t.exec(ctx, `UPDATE access_refusals SET to_us = ? WHERE tenant = ? AND user_id = ? AND role = ? AND path_key = ? AND to_us IS NULL`,
			micros(r.To), r.Tenant, r.UserID, r.Role, r.Path.Key())
		if err != nil {
			return dbErr("ending refused access", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return notFound("user %q has no refused access to role %q through that path", r.UserID, r.Role)
		}
	}
	return nil
}
