package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/scimtrail/scimtrail"
)

func (t *txn) AppStateHead(ctx context.Context, tenant string) (scimtrail.AppStateHead, error) {
	h := scimtrail.AppStateHead{Tenant: tenant}
	err := t.queryRow(ctx, `SELECT current, pending, pages FROM app_state_heads WHERE tenant = ?`, tenant).Scan(&h.Current, &h.Pending, &h.Pages)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return h, dbErr("reading the app state", err)
}

func (t *txn) AppStateRows(ctx context.Context, tenant, snapshot string) ([]scimtrail.AppStateRow, error) {
	rows, err := t.query(ctx, `SELECT user_id, role FROM app_state WHERE tenant = ? AND snapshot = ? ORDER BY user_id, role`, tenant, snapshot)
	if err != nil {
		return nil, dbErr("reading the app state", err)
	}
	defer rows.Close()
	var out []scimtrail.AppStateRow
	for rows.Next() {
		var r scimtrail.AppStateRow
		if err := rows.Scan(&r.UserID, &r.Role); err != nil {
			return nil, dbErr("reading the app state", err)
		}
		out = append(out, r)
	}
	return out, dbErr("reading the app state", rows.Err())
}

func (t *txn) PutAppStateHead(ctx context.Context, h scimtrail.AppStateHead) error {
	_, err := t.exec(ctx, `INSERT INTO app_state_heads (tenant, current, pending, pages) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET current = excluded.current, pending = excluded.pending, pages = excluded.pages`,
		h.Tenant, h.Current, h.Pending, h.Pages)
	return dbErr("storing the app state", err)
}

func (t *txn) InsertAppStateRows(ctx context.Context, tenant, snapshot string, rows []scimtrail.AppStateRow) error {
	for _, r := range rows {
		if _, err := t.exec(ctx, `INSERT INTO app_state (tenant, snapshot, user_id, role) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			tenant, snapshot, r.UserID, r.Role); err != nil {
			return dbErr("storing the app state", err)
		}
	}
	return nil
}

func (t *txn) DeleteAppStateRows(ctx context.Context, tenant string, keep []string) error {
	a, b := "", ""
	if len(keep) > 0 {
		a = keep[0]
	}
	if len(keep) > 1 {
		b = keep[1]
	}
	_, err := t.exec(ctx, `DELETE FROM app_state WHERE tenant = ? AND snapshot NOT IN (?, ?)`, tenant, a, b)
	return dbErr("storing the app state", err)
}
