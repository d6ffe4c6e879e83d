package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Access model storage (scimtrail.AccessReadTx, scimtrail.AccessTx).

func scanRole(sc interface{ Scan(...any) error }) (scimtrail.Role, error) {
	var r scimtrail.Role
	var priv int
	var perms string
	var created int64
	var retired sql.NullInt64
	if err := sc.Scan(&r.Tenant, &r.ID, &r.Name, &r.Description, &priv, &perms, &created, &retired); err != nil {
		return r, err
	}
	r.Privileged = priv != 0
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return r, err
	}
	r.Created, r.Retired = fromMicros(created), fromOptMicros(retired)
	return r, nil
}

const roleCols = `tenant, id, name, description, privileged, permissions, created_us, retired_us`

func (t *txn) Roles(ctx context.Context, tenant string) ([]scimtrail.Role, error) {
	rows, err := t.query(ctx, `SELECT `+roleCols+` FROM roles WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, dbErr("listing roles", err)
	}
	return collect(rows, "listing roles", scanRole)
}

func (t *txn) Role(ctx context.Context, tenant, id string) (scimtrail.Role, error) {
	r, err := scanRole(t.queryRow(ctx, `SELECT `+roleCols+` FROM roles WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("role %q not found", id)
	}
	return r, dbErr("reading a role", err)
}

func (t *txn) InsertRole(ctx context.Context, r scimtrail.Role) error {
	_, err := t.exec(ctx, `INSERT INTO roles (`+roleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Tenant, r.ID, r.Name, r.Description, boolInt(r.Privileged), jsonList(r.Permissions), micros(r.Created), optMicros(r.Retired))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "role id %q is taken (role ids are never reused)", r.ID)
	}
	return dbErr("inserting a role", err)
}

func (t *txn) UpdateRole(ctx context.Context, r scimtrail.Role) error {
	res, err := t.exec(ctx, `UPDATE roles SET name = ?, description = ?, privileged = ?, permissions = ?, retired_us = ?
		WHERE tenant = ? AND id = ?`, r.Name, r.Description, boolInt(r.Privileged), jsonList(r.Permissions), optMicros(r.Retired), r.Tenant, r.ID)
	return affectedOne(res, err, "updating a role", func() error { return notFound("role %q not found", r.ID) })
}

func scanMapping(sc interface{ Scan(...any) error }) (scimtrail.RoleMapping, error) {
	var m scimtrail.RoleMapping
	var created int64
	err := sc.Scan(&m.Tenant, &m.ID, &m.GroupID, &m.Role, &created)
	m.Created = fromMicros(created)
	return m, err
}

func (t *txn) Mappings(ctx context.Context, tenant string) ([]scimtrail.RoleMapping, error) {
	rows, err := t.query(ctx, `SELECT tenant, id, group_id, role, created_us FROM role_mappings WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, dbErr("listing mappings", err)
	}
	return collect(rows, "listing mappings", scanMapping)
}

func (t *txn) Mapping(ctx context.Context, tenant, id string) (scimtrail.RoleMapping, error) {
	m, err := scanMapping(t.queryRow(ctx, `SELECT tenant, id, group_id, role, created_us FROM role_mappings WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, notFound("mapping %q not found", id)
	}
	return m, dbErr("reading a mapping", err)
}

func (t *txn) InsertMapping(ctx context.Context, m scimtrail.RoleMapping) error {
	_, err := t.exec(ctx, `INSERT INTO role_mappings (tenant, id, group_id, role, created_us) VALUES (?, ?, ?, ?, ?)`,
		m.Tenant, m.ID, m.GroupID, m.Role, micros(m.Created))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "group %q is already mapped to role %q", m.GroupID, m.Role)
	}
	return dbErr("inserting a mapping", err)
}

func (t *txn) DeleteMapping(ctx context.Context, tenant, id string) error {
	res, err := t.exec(ctx, `DELETE FROM role_mappings WHERE tenant = ? AND id = ?`, tenant, id)
	return affectedOne(res, err, "deleting a mapping", func() error { return notFound("mapping %q not found", id) })
}

const grantCols = `tenant, id, user_id, role, kind, reason, by_actor, created_us, expires_us, revoked_us`

func scanGrant(sc interface{ Scan(...any) error }) (scimtrail.Grant, error) {
	var g scimtrail.Grant
	var created int64
	var expires, revoked sql.NullInt64
	err := sc.Scan(&g.Tenant, &g.ID, &g.UserID, &g.Role, &g.Kind, &g.Reason, &g.By, &created, &expires, &revoked)
	g.Created, g.Expires, g.Revoked = fromMicros(created), fromOptMicros(expires), fromOptMicros(revoked)
	return g, err
}

// inChunks runs fn over ids in chunks that keep IN lists under SQLite's parameter limit;
// nil ids runs fn once with nil.
func inChunks(ids []string, fn func(chunk []string) error) error {
	if ids == nil {
		return fn(nil)
	}
	for start := 0; start < len(ids); start += lookupChunk {
		if err := fn(ids[start:min(start+lookupChunk, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// idFilter is " AND col IN (?, …)" with its arguments, or nothing for a nil chunk.
func idFilter(col string, chunk []string, args []any) (string, []any) {
	if chunk == nil {
		return "", args
	}
	for _, id := range chunk {
		args = append(args, id)
	}
	return " AND " + col + " IN (" + placeholders(len(chunk)) + ")", args
}

func (t *txn) Grants(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.Grant, error) {
	var out []scimtrail.Grant
	err := inChunks(userIDs, func(chunk []string) error {
		cond, args := idFilter("user_id", chunk, []any{tenant})
		rows, err := t.queryIn(ctx, `SELECT `+grantCols+` FROM access_grants
			WHERE tenant = ? AND revoked_us IS NULL`+cond+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGrant(rows)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	return out, dbErr("listing grants", err)
}

func (t *txn) Grant(ctx context.Context, tenant, id string) (scimtrail.Grant, error) {
	g, err := scanGrant(t.queryRow(ctx, `SELECT `+grantCols+` FROM access_grants WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return g, notFound("grant %q not found", id)
	}
	return g, dbErr("reading a grant", err)
}

func (t *txn) InsertGrant(ctx context.Context, g scimtrail.Grant) error {
	_, err := t.exec(ctx, `INSERT INTO access_grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.Tenant, g.ID, g.UserID, g.Role, g.Kind, g.Reason, g.By, micros(g.Created), optMicros(g.Expires), optMicros(g.Revoked))
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "grant id %q is taken", g.ID)
	}
	return dbErr("inserting a grant", err)
}

func (t *txn) UpdateGrant(ctx context.Context, g scimtrail.Grant) error {
	res, err := t.exec(ctx, `UPDATE access_grants SET revoked_us = ? WHERE tenant = ? AND id = ?`, optMicros(g.Revoked), g.Tenant, g.ID)
	return affectedOne(res, err, "updating a grant", func() error { return notFound("grant %q not found", g.ID) })
}

func (t *txn) GroupEdges(ctx context.Context, tenant string) ([]scimtrail.GroupEdge, error) {
	rows, err := t.query(ctx, `SELECT group_id, member_id FROM memberships WHERE tenant = ? AND member_type = 'Group'`, tenant)
	if err != nil {
		return nil, dbErr("listing nested groups", err)
	}
	defer rows.Close()
	var out []scimtrail.GroupEdge
	for rows.Next() {
		var e scimtrail.GroupEdge
		if err := rows.Scan(&e.Parent, &e.Child); err != nil {
			return nil, dbErr("listing nested groups", err)
		}
		out = append(out, e)
	}
	return out, dbErr("listing nested groups", rows.Err())
}

func (t *txn) UsersInGroups(ctx context.Context, tenant string, groupIDs []string) ([]string, error) {
	if len(groupIDs) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	err := inChunks(groupIDs, func(chunk []string) error {
		cond, args := idFilter("group_id", chunk, []any{tenant})
		rows, err := t.queryIn(ctx, `SELECT member_id FROM memberships WHERE tenant = ? AND member_type = 'User'`+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			seen[id] = true
		}
		return rows.Err()
	})
	return sortedKeys(seen), dbErr("listing group members", err)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (t *txn) AccessUsers(ctx context.Context, tenant string, ids []string) ([]scimtrail.AccessUser, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []scimtrail.AccessUser
	err := inChunks(ids, func(chunk []string) error {
		cond, args := idFilter("id", chunk, []any{tenant})
		rows, err := t.queryIn(ctx, `SELECT id, user_name, active, json_extract(CAST(attributes AS TEXT), '$.roles') FROM resources
			WHERE tenant = ? AND type = 'User'`+cond+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		index := map[string]int{}
		for rows.Next() {
			var u scimtrail.AccessUser
			var active int
			var roles sql.NullString
			if err := rows.Scan(&u.ID, &u.Display, &active, &roles); err != nil {
				rows.Close()
				return err
			}
			u.Active = active != 0
			if roles.Valid {
				u.Attributes = []byte(`{"roles":` + roles.String + `}`)
			}
			index[u.ID] = len(out)
			out = append(out, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		cond, args = idFilter("member_id", chunk, []any{tenant})
		rows, err = t.queryIn(ctx, `SELECT member_id, group_id FROM memberships WHERE tenant = ?`+cond+` ORDER BY member_id, group_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m, g string
			if err := rows.Scan(&m, &g); err != nil {
				return err
			}
			if i, ok := index[m]; ok {
				out[i].Groups = append(out[i].Groups, g)
			}
		}
		return rows.Err()
	})
	return out, dbErr("reading users' access inputs", err)
}

const intervalCols = `tenant, user_id, role, path, from_us, to_us, expires_us, grant_seq`

func scanInterval(sc interface{ Scan(...any) error }) (scimtrail.AccessInterval, error) {
	var iv scimtrail.AccessInterval
	var path string
	var from int64
	var to, expires, seq sql.NullInt64
	if err := sc.Scan(&iv.Tenant, &iv.UserID, &iv.Role, &path, &from, &to, &expires, &seq); err != nil {
		return iv, err
	}
	iv.From, iv.To, iv.Expires, iv.Seq = fromMicros(from), fromOptMicros(to), fromOptMicros(expires), seq.Int64
	err := json.Unmarshal([]byte(path), &iv.Path)
	return iv, err
}

func (t *txn) intervals(ctx context.Context, query string, args ...any) ([]scimtrail.AccessInterval, error) {
	rows, err := t.queryIn(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []scimtrail.AccessInterval
	for rows.Next() {
		iv, err := scanInterval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, iv)
	}
	return out, rows.Err()
}

func (t *txn) OpenAccess(ctx context.Context, tenant string, userIDs []string) ([]scimtrail.AccessInterval, error) {
	var out []scimtrail.AccessInterval
	err := inChunks(userIDs, func(chunk []string) error {
		cond, args := idFilter("user_id", chunk, []any{tenant})
		ivs, err := t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
			WHERE tenant = ? AND to_us IS NULL`+cond+` ORDER BY user_id, role, path_key`, args...)
		out = append(out, ivs...)
		return err
	})
	return out, dbErr("reading open access", err)
}

func (t *txn) AccessAt(ctx context.Context, tenant string, at time.Time, userID, role string) ([]scimtrail.AccessInterval, error) {
	var cond strings.Builder
	us := micros(at)
	args := []any{tenant, us, us, us}
	if userID != "" {
		cond.WriteString(" AND user_id = ?")
		args = append(args, userID)
	}
	if role != "" {
		cond.WriteString(" AND role = ?")
		args = append(args, role)
	}
	ivs, err := t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
		WHERE tenant = ? AND from_us <= ? AND (to_us IS NULL OR to_us > ?) AND (expires_us IS NULL OR expires_us > ?)`+
		cond.String()+` ORDER BY user_id, role, path_key`, args...)
	return ivs, dbErr("reading access", err)
}

func (t *txn) ExpiredAccess(ctx context.Context, tenant string, now time.Time) ([]scimtrail.AccessInterval, error) {
	ivs, err := t.intervals(ctx, `SELECT `+intervalCols+` FROM access_intervals
		WHERE tenant = ? AND to_us IS NULL AND expires_us <= ? ORDER BY user_id, role, path_key`, tenant, micros(now))
	return ivs, dbErr("reading expired access", err)
}

func (t *txn) InsertAccess(ctx context.Context, ivs []scimtrail.AccessInterval) error {
	paths := make([]string, len(ivs))
	for i, iv := range ivs {
		path, err := json.Marshal(iv.Path)
		if err != nil {
			return err
		}
		paths[i] = string(path)
	}
	_, err := t.execRows(ctx, `INSERT INTO access_intervals (tenant, user_id, role, path_key, path, from_us, to_us, expires_us, grant_seq) VALUES `,
		`(?, ?, ?, ?, ?, ?, NULL, ?, ?)`, ``, len(ivs), func(i int, args []any) []any {
			iv := ivs[i]
			return append(args, iv.Tenant, iv.UserID, iv.Role, iv.Path.Key(), paths[i], micros(iv.From), optMicros(iv.Expires), optSeq(iv.Seq))
		})
	if uniqueViolation(err) {
		if len(ivs) == 1 {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "user %q already holds role %q through that path", ivs[0].UserID, ivs[0].Role)
		}
		return scimtrail.Errorf(scimtrail.ECONFLICT, "a user already holds a role through that path")
	}
	return dbErr("recording access", err)
}

// CloseAccess ends the intervals with one UPDATE … FROM per 500, each row of the VALUES list
// probing the unique index of open intervals.
func (t *txn) CloseAccess(ctx context.Context, ivs []scimtrail.AccessInterval) error {
	n, err := t.execRows(ctx, `WITH c (tenant, user_id, role, path_key, to_us) AS (VALUES `, `(?, ?, ?, ?, ?)`,
		`) UPDATE access_intervals SET to_us = c.to_us FROM c
		WHERE access_intervals.tenant = c.tenant AND access_intervals.user_id = c.user_id
			AND access_intervals.role = c.role AND access_intervals.path_key = c.path_key AND access_intervals.to_us IS NULL`,
		len(ivs), func(i int, args []any) []any {
			iv := ivs[i]
			return append(args, iv.Tenant, iv.UserID, iv.Role, iv.Path.Key(), micros(iv.To))
		})
	if err != nil {
		return dbErr("ending access", err)
	}
	if n != int64(len(ivs)) {
		if len(ivs) == 1 {
			return notFound("user %q does not hold role %q through that path", ivs[0].UserID, ivs[0].Role)
		}
		return notFound("%d of %d access intervals to end are not held", int64(len(ivs))-n, len(ivs))
	}
	return nil
}

// optSeq stores an unknown seq (0) as NULL.
func optSeq(seq int64) any {
	if seq == 0 {
		return nil
	}
	return seq
}
