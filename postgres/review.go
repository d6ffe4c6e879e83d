package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

const reviewCols = `id, scope, roles, at, size, created_by, seq`

func scanReview(tenant string, row pgx.Row) (scimtrail.AccessReview, error) {
	r := scimtrail.AccessReview{Tenant: tenant}
	var roles string
	if err := row.Scan(&r.ID, &r.Scope, &roles, &r.At, &r.Size, &r.CreatedBy, &r.Seq); err != nil {
		return r, err
	}
	r.At = r.At.UTC()
	return r, json.Unmarshal([]byte(roles), &r.Roles)
}

func (t *tx) AccessReview(ctx context.Context, tenant, id string) (scimtrail.AccessReview, error) {
	r, err := scanReview(tenant, t.tx.QueryRow(ctx, `SELECT `+reviewCols+` FROM access_reviews WHERE tenant = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, notFound("access review %q not found", id)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: access review: %w", err)
	}
	return r, nil
}

func (t *tx) AccessReviews(ctx context.Context, tenant string) ([]scimtrail.AccessReview, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+reviewCols+` FROM access_reviews WHERE tenant = $1 ORDER BY seq`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: access reviews: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.AccessReview, error) { return scanReview(tenant, row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: access reviews: %w", err)
	}
	return out, nil
}

func (t *tx) ReviewDecisions(ctx context.Context, tenant, reviewID string) ([]scimtrail.ReviewDecision, error) {
	rows, err := t.tx.Query(ctx, `SELECT user_id, role, decision, comment, decided_by, decided_at, seq, revoked_grants
		FROM access_review_decisions WHERE tenant = $1 AND review_id = $2 ORDER BY user_id, role`, tenant, reviewID)
	if err != nil {
		return nil, fmt.Errorf("postgres: review decisions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (scimtrail.ReviewDecision, error) {
		d := scimtrail.ReviewDecision{Tenant: tenant, ReviewID: reviewID}
		var grants string
		if err := row.Scan(&d.UserID, &d.Role, &d.Decision, &d.Comment, &d.By, &d.At, &d.Seq, &grants); err != nil {
			return d, err
		}
		d.At = d.At.UTC()
		return d, json.Unmarshal([]byte(grants), &d.RevokedGrants)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: review decisions: %w", err)
	}
	return out, nil
}

func (t *tx) InsertAccessReview(ctx context.Context, r scimtrail.AccessReview) error {
	roles, err := json.Marshal(r.Roles)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO access_reviews (tenant, `+reviewCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.Tenant, r.ID, r.Scope, string(roles), r.At, r.Size, r.CreatedBy, r.Seq)
	if scimtrail.ErrorCode(translate(err)) == scimtrail.ECONFLICT {
		return scimtrail.Errorf(scimtrail.ECONFLICT, "access review %q already exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: store access review: %w", err)
	}
	return nil
}

func (t *tx) PutReviewDecision(ctx context.Context, d scimtrail.ReviewDecision) error {
	grants := d.RevokedGrants
	if grants == nil {
		grants = []string{}
	}
	b, err := json.Marshal(grants)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO access_review_decisions (tenant, review_id, user_id, role, decision, comment, decided_by, decided_at, seq, revoked_grants)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant, review_id, user_id, role) DO UPDATE SET decision = excluded.decision, comment = excluded.comment,
			decided_by = excluded.decided_by, decided_at = excluded.decided_at, seq = excluded.seq, revoked_grants = excluded.revoked_grants`,
		d.Tenant, d.ReviewID, d.UserID, d.Role, d.Decision, d.Comment, d.By, d.At, d.Seq, string(b))
	if err != nil {
		return fmt.Errorf("postgres: store review decision: %w", err)
	}
	return nil
}
