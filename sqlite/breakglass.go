package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Break-glass requests (scimtrail.BreakGlassReadTx, scimtrail.BreakGlassTx).

const breakGlassColumns = `id, user_id, role, justification, duration_s, requested_by, requested_us, state, decided_by, decided_us, decision, grant_id`

type rowScanner interface{ Scan(dest ...any) error }

func scanBreakGlassRequest(row rowScanner, tenant string) (scimtrail.BreakGlassRequest, error) {
	r := scimtrail.BreakGlassRequest{Tenant: tenant}
	var secs, requested int64
	var decided sql.NullInt64
	err := row.Scan(&r.ID, &r.UserID, &r.Role, &r.Justification, &secs, &r.RequestedBy, &requested, &r.State, &r.DecidedBy, &decided, &r.Decision, &r.GrantID)
	r.Duration, r.Requested, r.Decided = time.Duration(secs)*time.Second, fromMicros(requested), fromOptMicros(decided)
	return r, err
}

func (t *txn) BreakGlassRequest(ctx context.Context, tenant, id string) (scimtrail.BreakGlassRequest, error) {
	r, err := scanBreakGlassRequest(t.queryRow(ctx, `SELECT `+breakGlassColumns+` FROM break_glass_requests WHERE tenant = ? AND id = ?`, tenant, id), tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("break-glass request %q not found", id)
	}
	return r, dbErr("reading a break-glass request", err)
}

func (t *txn) BreakGlassRequests(ctx context.Context, tenant string, limit int) ([]scimtrail.BreakGlassRequest, error) {
	rows, err := t.query(ctx, `SELECT `+breakGlassColumns+` FROM break_glass_requests WHERE tenant = ?
		ORDER BY requested_us DESC, id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, dbErr("listing break-glass requests", err)
	}
	defer rows.Close()
	var out []scimtrail.BreakGlassRequest
	for rows.Next() {
		r, err := scanBreakGlassRequest(rows, tenant)
		if err != nil {
			return nil, dbErr("listing break-glass requests", err)
		}
		out = append(out, r)
	}
	return out, dbErr("listing break-glass requests", rows.Err())
}

func (t *txn) InsertBreakGlassRequest(ctx context.Context, r scimtrail.BreakGlassRequest) error {
	_, err := t.exec(ctx, `INSERT INTO break_glass_requests (tenant, `+breakGlassColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Tenant, r.ID, r.UserID, r.Role, r.Justification, int64(r.Duration/time.Second), r.RequestedBy, micros(r.Requested),
		r.State, r.DecidedBy, optMicros(r.Decided), r.Decision, r.GrantID)
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "break-glass request %q already exists", r.ID)
	}
	return dbErr("inserting a break-glass request", err)
}

func (t *txn) UpdateBreakGlassRequest(ctx context.Context, r scimtrail.BreakGlassRequest) error {
	res, err := t.exec(ctx, `UPDATE break_glass_requests SET state = ?, decided_by = ?, decided_us = ?, decision = ?, grant_id = ?
		WHERE tenant = ? AND id = ?`, r.State, r.DecidedBy, optMicros(r.Decided), r.Decision, r.GrantID, r.Tenant, r.ID)
	return affectedOne(res, err, "updating a break-glass request", func() error { return notFound("break-glass request %q not found", r.ID) })
}
