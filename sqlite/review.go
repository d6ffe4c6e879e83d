package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/scimtrail/scimtrail"
)

const reviewCols = `id, scope, roles, at_us, size, created_by, seq`

func scanReview(tenant string, sc interface{ Scan(...any) error }) (scimtrail.AccessReview, error) {
	r := scimtrail.AccessReview{Tenant: tenant}
	var roles string
	var at int64
	if err := sc.Scan(&r.ID, &r.Scope, &roles, &at, &r.Size, &r.CreatedBy, &r.Seq); err != nil {
		return r, err
	}
	r.At = fromMicros(at)
	return r, json.Unmarshal([]byte(roles), &r.Roles)
}

func (t *txn) AccessReview(ctx context.Context, tenant, id string) (scimtrail.AccessReview, error) {
	r, err := scanReview(tenant, t.queryRow(ctx, `SELECT `+reviewCols+` FROM access_reviews WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("access review %q not found", id)
	}
	return r, dbErr("reading an access review", err)
}

func (t *txn) AccessReviews(ctx context.Context, tenant string) ([]scimtrail.AccessReview, error) {
	rows, err := t.query(ctx, `SELECT `+reviewCols+` FROM access_reviews WHERE tenant = ? ORDER BY seq`, tenant)
	if err != nil {
		return nil, dbErr("reading access reviews", err)
	}
	defer rows.Close()
	var out []scimtrail.AccessReview
	for rows.Next() {
		r, err := scanReview(tenant, rows)
		if err != nil {
			return nil, dbErr("reading access reviews", err)
		}
		out = append(out, r)
	}
	return out, dbErr("reading access reviews", rows.Err())
}

func (t *txn) ReviewDecisions(ctx context.Context, tenant, reviewID string) ([]scimtrail.ReviewDecision, error) {
	rows, err := t.query(ctx, `SELECT user_id, role, decision, comment, decided_by, decided_us, seq, revoked_grants
		FROM access_review_decisions WHERE tenant = ? AND review_id = ? ORDER BY user_id, role`, tenant, reviewID)
	if err != nil {
		return nil, dbErr("reading review decisions", err)
	}
	defer rows.Close()
	var out []scimtrail.ReviewDecision
	for rows.Next() {
		d := scimtrail.ReviewDecision{Tenant: tenant, ReviewID: reviewID}
		var at int64
		var grants string
		if err := rows.Scan(&d.UserID, &d.Role, &d.Decision, &d.Comment, &d.By, &at, &d.Seq, &grants); err != nil {
			return nil, dbErr("reading review decisions", err)
		}
		d.At = fromMicros(at)
		if err := json.Unmarshal([]byte(grants), &d.RevokedGrants); err != nil {
			return nil, dbErr("reading review decisions", err)
		}
		out = append(out, d)
	}
	return out, dbErr("reading review decisions", rows.Err())
}

func (t *txn) InsertAccessReview(ctx context.Context, r scimtrail.AccessReview) error {
	roles, err := json.Marshal(r.Roles)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO access_reviews (tenant, `+reviewCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Tenant, r.ID, r.Scope, string(roles), micros(r.At), r.Size, r.CreatedBy, r.Seq)
	if uniqueViolation(err) {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "access review %q already exists", r.ID)
	}
	return dbErr("storing an access review", err)
}

func (t *txn) PutReviewDecision(ctx context.Context, d scimtrail.ReviewDecision) error {
	grants, err := json.Marshal(nonNil(d.RevokedGrants))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO access_review_decisions (tenant, review_id, user_id, role, decision, comment, decided_by, decided_us, seq, revoked_grants)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, review_id, user_id, role) DO UPDATE SET decision = excluded.decision, comment = excluded.comment,
			decided_by = excluded.decided_by, decided_us = excluded.decided_us, seq = excluded.seq, revoked_grants = excluded.revoked_grants`,
		d.Tenant, d.ReviewID, d.UserID, d.Role, d.Decision, d.Comment, d.By, micros(d.At), d.Seq, string(grants))
	return dbErr("storing a review decision", err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
