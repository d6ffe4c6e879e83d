package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Access model storage (scimtrail.AccessReadTx, scimtrail.AccessTx). Bulk writes of access
// intervals are one statement each over unnest'ed arrays, so a mapping that reaches 100k
// users costs a few round trips, not 100k.

const roleCols = `tenant, id, name, description, privileged, permissions, created, retired`

func scanRole(row pgx.Row) (scimtrail.Role, error) {
	var r scimtrail.Role
	var perms string
	var retired *time.Time
	if err := row.Scan(&r.Tenant, &r.ID, &r.Name, &r.Description, &r.Privileged, &perms, &r.Created, &retired); err != nil {
		return r, err
	}
	r.Created, r.Retired = r.Created.UTC(), fromNullTime(retired)
	return r, json.Unmarshal([]byte(perms), &r.Permissions)
}

func jsonList(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

func (t *tx) Roles(ctx context.Context, tenant string) ([]scimtrail.Role, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+roleCols+` FROM roles WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list roles: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list roles: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *tx) Role(ctx context.Context, tenant, id string) (scimtrail.Role, error) {
	r, err := scanRole(t.tx.QueryRow(ctx, `SELECT `+roleCols+` FROM roles WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, notFound("role %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: read role: %w", err)
	}
	return r, nil
}

func (t *tx) InsertRole(ctx context.Context, r scimtrail.Role) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO roles (`+roleCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.Tenant, r.ID, r.Name, r.Description, r.Privileged, jsonList(r.Permissions), r.Created, nullTime(r.Retired))
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "role id %q is taken (role ids are never reused)", r.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert role: %w", err)
	}
	return nil
}

func oneRow(n int64, err error, what string, missing func() error) error {
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if n == 0 {
		return missing()
	}
	return nil
}

func (t *tx) UpdateRole(ctx context.Context, r scimtrail.Role) error {
	tag, err := t.tx.Exec(ctx, `UPDATE roles SET name = $1, description = $2, privileged = $3, permissions = $4, retired = $5
		WHERE tenant = $6 AND id = $7`, r.Name, r.Description, r.Privileged, jsonList(r.Permissions), nullTime(r.Retired), r.Tenant, r.ID)
	return oneRow(tag.RowsAffected(), err, "update role", func() error { return notFound("role %q not found", r.ID) })
}

func scanMapping(row pgx.Row) (scimtrail.RoleMapping, error) {
	var m scimtrail.RoleMapping
	err := row.Scan(&m.Tenant, &m.ID, &m.GroupID, &m.Role, &m.Created)
	m.Created = m.Created.UTC()
	return m, err
}

func (t *tx) Mappings(ctx context.Context, tenant string) ([]scimtrail.RoleMapping, error) {
	rows, err := t.tx.Query(ctx, `SELECT tenant, id, group_id, role, created FROM role_mappings WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list mappings: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.RoleMapping
	for rows.Next() {
		m, err := scanMapping(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list mappings: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) Mapping(ctx context.Context, tenant, id string) (scimtrail.RoleMapping, error) {
	m, err := scanMapping(t.tx.QueryRow(ctx, `SELECT tenant, id, group_id, role, created FROM role_mappings WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("mapping %q not found", id)
	}
	if err != nil {
		return m, fmt.Errorf("postgres: read mapping: %w", err)
	}
	return m, nil
}

func (t *tx) InsertMapping(ctx context.Context, m scimtrail.RoleMapping) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO role_mappings (tenant, id, group_id, role, created) VALUES ($1, $2, $3, $4, $5)`,
		m.Tenant, m.ID, m.GroupID, m.Role, m.Created)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "group %q is already mapped to role %q", m.GroupID, m.Role)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert mapping: %w", err)
	}
	return nil
}

func (t *tx) DeleteMapping(ctx context.Context, tenant, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM role_mappings WHERE tenant = $1 AND id = $2`, tenant, id)
	return oneRow(tag.RowsAffected(), err, "delete mapping", func() error { return notFound("mapping %q not found", id) })
}

const grantCols = `tenant, id, user_id, role, kind, reason, by_actor, created, expires, revoked`

func scanGrant(row pgx.Row) (scimtrail.Grant, error) {
	var g scimtrail.Grant
	var expires, revoked *time.Time
	err := row.Scan(&g.Tenant, &g.ID, &g.UserID, &g.Role, &g.Kind, &g.Reason, &g.By, &g.Created, &expires, &revoked)
	g.Created, g.Expires, g.Revoked = g.Created.UTC(), fromNullTime(expires), fromNullTime(revoked)
	return g, err
}

func (t *tx) Grants(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.Grant, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+grantCols+` FROM access_grants
		WHERE tenant = $1 AND revoked IS NULL AND ($2::text[] IS NULL OR user_id = ANY($2::text[])) ORDER BY id`, tenant, userIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *tx) Grant(ctx context.Context, tenant, id string) (scimtrail.Grant, error) {
	g, err := scanGrant(t.tx.QueryRow(ctx, `SELECT `+grantCols+` FROM access_grants WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, notFound("grant %q not found", id)
	}
	if err != nil {
		return g, fmt.Errorf("postgres: read grant: %w", err)
	}
	return g, nil
}

func (t *tx) InsertGrant(ctx context.Context, g scimtrail.Grant) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO access_grants (`+grantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		g.Tenant, g.ID, g.UserID, g.Role, g.Kind, g.Reason, g.By, g.Created, nullTime(g.Expires), nullTime(g.Revoked))
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "grant id %q is taken", g.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert grant: %w", err)
	}
	return nil
}

func (t *tx) UpdateGrant(ctx context.Context, g scimtrail.Grant) error {
	tag, err := t.tx.Exec(ctx, `UPDATE access_grants SET revoked = $1 WHERE tenant = $2 AND id = $3`, nullTime(g.Revoked), g.Tenant, g.ID)
	return oneRow(tag.RowsAffected(), err, "update grant", func() error { return notFound("grant %q not found", g.ID) })
}

func (t *tx) GroupEdges(ctx context.Context, tenant string) ([]scimtrail.GroupEdge, error) {
	rows, err := t.tx.Query(ctx, `SELECT group_id, member_id FROM memberships WHERE tenant = $1 AND member_type = 'Group'`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list nested groups: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.GroupEdge
	for rows.Next() {
		var e scimtrail.GroupEdge
		if err := rows.Scan(&e.Parent, &e.Child); err != nil {
			return nil, fmt.Errorf("postgres: list nested groups: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) UsersInGroups(ctx context.Context, tenant string, groupIDs []string) ([]string, error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT DISTINCT member_id FROM memberships
		WHERE tenant = $1 AND member_type = 'User' AND group_id = ANY($2::text[]) ORDER BY member_id`, tenant, groupIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: list group members: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list group members: %w", err)
	}
	return out, nil
}

func (t *tx) AccessUsers(ctx context.Context, tenant string, ids []string) ([]scimtrail.AccessUser, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT r.id, r.user_name, r.active, convert_from(r.attributes, 'UTF8')::jsonb -> 'roles',
			coalesce((SELECT array_agg(m.group_id ORDER BY m.group_id) FROM memberships m
				WHERE m.tenant = r.tenant AND m.member_id = r.id), '{}')
		FROM resources r WHERE r.tenant = $1 AND r.type = 'User' AND r.id = ANY($2::text[]) ORDER BY r.id`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: read users' access inputs: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.AccessUser
	for rows.Next() {
		var u scimtrail.AccessUser
		var roles []byte
		if err := rows.Scan(&u.ID, &u.Display, &u.Active, &roles, &u.Groups); err != nil {
			return nil, fmt.Errorf("postgres: read users' access inputs: %w", err)
		}
		if roles != nil {
			u.Attributes = append(append([]byte(`{"roles":`), roles...), '}')
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

const intervalCols = `tenant, user_id, role, path, from_at, to_at, expires, grant_seq`

func (t *tx) intervals(ctx context.Context, query string, args ...any) ([]scimtrail.AccessInterval, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read access: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.AccessInterval
	for rows.Next() {
		var iv scimtrail.AccessInterval
		var path string
		var to, expires *time.Time
		var seq *int64
		if err := rows.Scan(&iv.Tenant, &iv.UserID, &iv.Role, &path, &iv.From, &to, &expires, &seq); err != nil {
			return nil, fmt.Errorf("postgres: read access: %w", err)
		}
		if seq != nil {
			iv.Seq = *seq
		}
		iv.From, iv.To, iv.Expires = iv.From.UTC(), fromNullTime(to), fromNullTime(expires)
		if err := json.Unmarshal([]byte(path), &iv.Path); err != nil {
			return nil, fmt.Errorf("postgres: read access: %w", err)
		}
		out = append(out, iv)
	}
	return out, rows.Err()
}

func (t *tx) OpenAccess(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.AccessInterval, error) {
	return t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
		WHERE tenant = $1 AND to_at IS NULL AND ($2::text[] IS NULL OR user_id = ANY($2::text[]))
		ORDER BY user_id, role, path_key`, tenant, userIDs)
}

func (t *tx) AccessAt(ctx context.Context, tenant string, at time.Time, userID, role string) ([]scimtrail.AccessInterval, error) {
	var cond strings.Builder
	args := []any{tenant, at}
	if userID != "" {
		args = append(args, userID)
		fmt.Fprintf(&cond, " AND user_id = $%d", len(args))
	}
	if role != "" {
		args = append(args, role)
		fmt.Fprintf(&cond, " AND role = $%d", len(args))
	}
	return t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
		WHERE tenant = $1 AND from_at <= $2 AND (to_at IS NULL OR to_at > $2) AND (expires IS NULL OR expires > $2)`+
		cond.String()+` ORDER BY user_id, role, path_key`, args...)
}

func (t *tx) ExpiredAccess(ctx context.Context, tenant string, now time.Time) ([]scimtrail.AccessInterval, error) {
	return t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
		WHERE tenant = $1 AND to_at IS NULL AND expires <= $2 ORDER BY user_id, role, path_key`, tenant, now)
}

func (t *tx) InsertAccess(ctx context.Context, ivs []scimtrail.AccessInterval) error {
	if len(ivs) == 0 {
		return nil
	}
	n := len(ivs)
	tenants, users, roles, keys, paths := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	froms, expires, seqs := make([]time.Time, n), make([]*time.Time, n), make([]*int64, n)
	for i, iv := range ivs {
		if iv.Seq != 0 {
			seq := iv.Seq
			seqs[i] = &seq
		}
		p, err := json.Marshal(iv.Path)
		if err != nil {
			return err
		}
		tenants[i], users[i], roles[i], keys[i], paths[i], froms[i] = iv.Tenant, iv.UserID, iv.Role, iv.Path.Key(), string(p), iv.From
		if !iv.Expires.IsZero() {
			e := iv.Expires
			expires[i] = &e
		}
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO access_intervals (tenant, user_id, role, path_key, path, from_at, expires, grant_seq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bigint[])`,
		tenants, users, roles, keys, paths, froms, expires, seqs)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "a user already holds a role through that path")
	}
	if err != nil {
		return fmt.Errorf("postgres: record access: %w", err)
	}
	return nil
}

func (t *tx) CloseAccess(ctx context.Context, ivs []scimtrail.AccessInterval) error {
	if len(ivs) == 0 {
		return nil
	}
	n := len(ivs)
	tenants, users, roles, keys, tos := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, iv := range ivs {
		tenants[i], users[i], roles[i], keys[i], tos[i] = iv.Tenant, iv.UserID, iv.Role, iv.Path.Key(), iv.To
	}
	tag, err := t.tx.Exec(ctx, `UPDATE access_intervals a SET to_at = c.to_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS c(tenant, user_id, role, path_key, to_at)
		WHERE a.tenant = c.tenant AND a.user_id = c.user_id AND a.role = c.role AND a.path_key = c.path_key AND a.to_at IS NULL`,
		tenants, users, roles, keys, tos)
	if err != nil {
		return fmt.Errorf("postgres: end access: %w", err)
	}
	if tag.RowsAffected() != int64(n) {
		return notFound("%d of %d access intervals to end are not held", int64(n)-tag.RowsAffected(), n)
	}
	return nil
}
