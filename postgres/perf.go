package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/scimtrail/scimtrail"
)

// Batched reads for rendering a page (scimtrail.BatchReadTx): one query, the ids as one
// array parameter.

func (t *tx) MembersMany(ctx context.Context, tenant string, groupIDs []string) (map[string][]scimtrail.MemberRef, error) {
	return t.refsMany(ctx, `SELECT m.group_id, m.member_id, m.member_type, m.member_display
		FROM memberships m WHERE m.tenant = $1 AND m.group_id = ANY($2::text[])
		ORDER BY m.group_id COLLATE "C", m.member_id COLLATE "C"`, tenant, groupIDs)
}

func (t *tx) MemberOfMany(ctx context.Context, tenant string, memberIDs []string) (map[string][]scimtrail.MemberRef, error) {
	return t.refsMany(ctx, `SELECT m.member_id, m.group_id, 'Group', m.group_display
		FROM memberships m WHERE m.tenant = $1 AND m.member_id = ANY($2::text[])
		ORDER BY m.member_id COLLATE "C", m.group_id COLLATE "C"`, tenant, memberIDs)
}

func (t *tx) MemberOfCreated(ctx context.Context, tenant string, memberIDs []string, from, to time.Time) (map[string][]scimtrail.MemberRef, error) {
	out := map[string][]scimtrail.MemberRef{}
	if len(memberIDs) == 0 {
		return out, nil
	}
	want := make(map[string]bool, len(memberIDs))
	for _, id := range memberIDs {
		want[id] = true
	}
	rows, err := t.tx.Query(ctx, `SELECT member_id, group_id, group_display FROM memberships
		WHERE tenant = $1 AND member_created BETWEEN $2 AND $3
		ORDER BY member_created, member_id, group_id`, tenant, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: groups of %d resources: %w", len(memberIDs), err)
	}
	var member string
	var ref scimtrail.MemberRef
	_, err = pgx.ForEachRow(rows, []any{&member, &ref.Value, &ref.Display}, func() error {
		if want[member] {
			ref.Type = scimtrail.GroupResource
			out[member] = append(out[member], ref)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: groups of %d resources: %w", len(memberIDs), err)
	}
	return out, nil
}

func (t *tx) ResourcesByID(ctx context.Context, tenant string, typ scimtrail.ResourceType, ids []string) ([]scimtrail.Resource, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT `+resourceColumns+` FROM resources r WHERE r.tenant = $1 AND `+typeOnly("r.type")+` = $2 AND r.id = ANY($3::text[])`,
		tenant, string(typ), ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: %d resources: %w", len(ids), err)
	}
	defer rows.Close()
	var out []scimtrail.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %d resources: %w", len(ids), err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %d resources: %w", len(ids), err)
	}
	return out, nil
}

func (t *tx) refsMany(ctx context.Context, query, tenant string, ids []string) (map[string][]scimtrail.MemberRef, error) {
	out := map[string][]scimtrail.MemberRef{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, query, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: members of %d resources: %w", len(ids), err)
	}
	var key, typ string
	var ref scimtrail.MemberRef
	_, err = pgx.ForEachRow(rows, []any{&key, &ref.Value, &typ, &ref.Display}, func() error {
		r := ref
		r.Type = scimtrail.ResourceType(typ)
		out[key] = append(out[key], r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: members of %d resources: %w", len(ids), err)
	}
	return out, nil
}
