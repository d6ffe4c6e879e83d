package sqlite

import (
	"context"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Batched reads for rendering a page (scimtrail.BatchReadTx): one query per 500 ids.

func (t *txn) MembersMany(ctx context.Context, tenant string, groupIDs []string) (map[string][]scimtrail.MemberRef, error) {
	return t.refsMany(ctx, `SELECT m.group_id, m.member_id, m.member_type, m.member_display
		FROM memberships m WHERE m.tenant = ?`, "m.group_id", ` ORDER BY m.group_id, m.member_id`, tenant, groupIDs)
}

func (t *txn) MemberOfMany(ctx context.Context, tenant string, memberIDs []string) (map[string][]scimtrail.MemberRef, error) {
	return t.refsMany(ctx, `SELECT m.member_id, m.group_id, 'Group', m.group_display
		FROM memberships m WHERE m.tenant = ?`, "m.member_id", ` ORDER BY m.member_id, m.group_id`, tenant, memberIDs)
}

const memberOfCreatedSQL = `SELECT member_id, group_id, group_display FROM memberships
	WHERE tenant = ? AND member_created_us BETWEEN ? AND ?
	ORDER BY member_created_us, member_id, group_id`

func (t *txn) MemberOfCreated(ctx context.Context, tenant string, memberIDs []string, from, to time.Time) (map[string][]scimtrail.MemberRef, error) {
	out := map[string][]scimtrail.MemberRef{}
	if len(memberIDs) == 0 {
		return out, nil
	}
	want := make(map[string]bool, len(memberIDs))
	for _, id := range memberIDs {
		want[id] = true
	}
	// In the index's order (created, member, group), so each member's groups come ordered.
	rows, err := t.query(ctx, memberOfCreatedSQL, tenant, from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return nil, dbErr("listing groups", err)
	}
	defer rows.Close()
	for rows.Next() {
		var member string
		ref := scimtrail.MemberRef{Type: scimtrail.GroupResource}
		if err := rows.Scan(&member, &ref.Value, &ref.Display); err != nil {
			return nil, dbErr("listing groups", err)
		}
		if want[member] {
			out[member] = append(out[member], ref)
		}
	}
	return out, dbErr("listing groups", rows.Err())
}

func (t *txn) ResourcesByID(ctx context.Context, tenant string, typ scimtrail.ResourceType, ids []string) ([]scimtrail.Resource, error) {
	var out []scimtrail.Resource
	err := inChunks(ids, func(chunk []string) error {
		cond, args := idFilter("id", chunk, []any{tenant, string(typ)})
		// A warm page misses a few documents: those few-id texts are worth keeping
		// prepared (parsing was most of the read); a cold page's long lists are not.
		run := t.queryIn
		if len(chunk) <= 16 {
			run = t.query
		}
		rows, err := run(ctx, `SELECT `+resourceCols+` FROM resources WHERE tenant = ? AND type = ?`+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanResource(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, dbErr("reading resources", err)
}

// refsMany runs head + " AND col IN (…)" + order over ids in chunks; each row is the key
// followed by a MemberRef's value, type and display.
func (t *txn) refsMany(ctx context.Context, head, col, order, tenant string, ids []string) (map[string][]scimtrail.MemberRef, error) {
	out := map[string][]scimtrail.MemberRef{}
	if len(ids) == 0 {
		return out, nil
	}
	err := inChunks(ids, func(chunk []string) error {
		cond, args := idFilter(col, chunk, []any{tenant})
		// A page's text repeats (same page size), so it goes through the bounded cache.
		rows, err := t.query(ctx, head+cond+order, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, typ string
			var ref scimtrail.MemberRef
			if err := rows.Scan(&key, &ref.Value, &typ, &ref.Display); err != nil {
				return err
			}
			ref.Type = scimtrail.ResourceType(typ)
			out[key] = append(out[key], ref)
		}
		return rows.Err()
	})
	return out, dbErr("listing members", err)
}
