package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Break-glass requests (scimtrail.BreakGlassReadTx, scimtrail.BreakGlassTx).

const breakGlassColumns = `id, user_id, role, justification, duration_s, requested_by, requested, state, decided_by, decided, decision, grant_id`

func scanBreakGlassRequest(row pgx.Row, tenant string) (scimtrail.BreakGlassRequest, error) {
	r := scimtrail.BreakGlassRequest{Tenant: tenant}
	var secs int64
	var decided *time.Time
	err := row.Scan(&r.ID, &r.UserID, &r.Role, &r.Justification, &secs, &r.RequestedBy, &r.Requested, &r.State, &r.DecidedBy, &decided, &r.Decision, &r.GrantID)
	r.Duration, r.Requested, r.Decided = time.Duration(secs)*time.Second, r.Requested.UTC(), fromNullTime(decided)
	return r, err
}

func (t *tx) BreakGlassRequest(ctx context.Context, tenant, id string) (scimtrail.BreakGlassRequest, error) {
	r, err := scanBreakGlassRequest(t.tx.QueryRow(ctx, `SELECT `+breakGlassColumns+` FROM break_glass_requests WHERE tenant = $1 AND id = $2`, tenant, id), tenant)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, scimtrail.Errorf(scimtrail.ENOTFOUND, "break-glass request %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: read break-glass request: %w", err)
	}
	return r, nil
}

func (t *tx) BreakGlassRequests(ctx context.Context, tenant string, limit int) ([]scimtrail.BreakGlassRequest, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+breakGlassColumns+` FROM break_glass_requests WHERE tenant = $1
		ORDER BY requested DESC, id DESC LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list break-glass requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.BreakGlassRequest, error) {
		return scanBreakGlassRequest(row, tenant)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list break-glass requests: %w", err)
	}
	return out, nil
}

func (t *tx) InsertBreakGlassRequest(ctx context.Context, r scimtrail.BreakGlassRequest) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO break_glass_requests (tenant, `+breakGlassColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.Tenant, r.ID, r.UserID, r.Role, r.Justification, int64(r.Duration/time.Second), r.RequestedBy, r.Requested,
		r.State, r.DecidedBy, nullTime(r.Decided), r.Decision, r.GrantID)
	if err != nil {
		return fmt.Errorf("postgres: insert break-glass request: %w", translate(err))
	}
	return nil
}

func (t *tx) UpdateBreakGlassRequest(ctx context.Context, r scimtrail.BreakGlassRequest) error {
	tag, err := t.tx.Exec(ctx, `UPDATE break_glass_requests SET state = $1, decided_by = $2, decided = $3, decision = $4, grant_id = $5
		WHERE tenant = $6 AND id = $7`, r.State, r.DecidedBy, nullTime(r.Decided), r.Decision, r.GrantID, r.Tenant, r.ID)
	if err != nil {
		return fmt.Errorf("postgres: update break-glass request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return scimtrail.Errorf(scimtrail.ENOTFOUND, "break-glass request %q not found", r.ID)
	}
	return nil
}
