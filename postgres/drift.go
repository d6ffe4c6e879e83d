package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

func (t *tx) AppStateHead(ctx context.Context, tenant string) (scimtrail.AppStateHead, error) {
	h := scimtrail.AppStateHead{Tenant: tenant}
	err := t.tx.QueryRow(ctx, `SELECT current, pending, pages FROM app_state_heads WHERE tenant = $1`, tenant).Scan(&h.Current, &h.Pending, &h.Pages)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("postgres: app state: %w", err)
	}
	return h, nil
}

func (t *tx) AppStateRows(ctx context.Context, tenant, snapshot string) ([]scimtrail.AppStateRow, error) {
	rows, err := t.tx.Query(ctx, `SELECT user_id, role FROM app_state WHERE tenant = $1 AND snapshot = $2 ORDER BY user_id, role`, tenant, snapshot)
	if err != nil {
		return nil, fmt.Errorf("postgres: app state: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.AppStateRow, error) {
		var r scimtrail.AppStateRow
		err := row.Scan(&r.UserID, &r.Role)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: app state: %w", err)
	}
	return out, nil
}

func (t *tx) PutAppStateHead(ctx context.Context, h scimtrail.AppStateHead) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO app_state_heads (tenant, current, pending, pages) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant) DO UPDATE SET current = excluded.current, pending = excluded.pending, pages = excluded.pages`,
		h.Tenant, h.Current, h.Pending, h.Pages)
	if err != nil {
		return fmt.Errorf("postgres: store app state: %w", err)
	}
	return nil
}

func (t *tx) InsertAppStateRows(ctx context.Context, tenant, snapshot string, rows []scimtrail.AppStateRow) error {
	users, roles := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		users[i], roles[i] = r.UserID, r.Role
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO app_state (tenant, snapshot, user_id, role)
		SELECT $1, $2, u, r FROM unnest($3::text[], $4::text[]) AS x(u, r) ON CONFLICT DO NOTHING`, tenant, snapshot, users, roles)
	if err != nil {
		return fmt.Errorf("postgres: store app state: %w", err)
	}
	return nil
}

func (t *tx) DeleteAppStateRows(ctx context.Context, tenant string, keep []string) error {
	if keep == nil {
		keep = []string{}
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM app_state WHERE tenant = $1 AND NOT (snapshot = ANY($2::text[]))`, tenant, keep)
	if err != nil {
		return fmt.Errorf("postgres: store app state: %w", err)
	}
	return nil
}
