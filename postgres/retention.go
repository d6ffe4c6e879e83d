package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
)

// Retention policies and pruning (scimtrail.RetentionReadTx, RetentionTx).

func (t *tx) Retention(ctx context.Context, tenant string) (scimtrail.Retention, error) {
	r := scimtrail.Retention{Tenant: tenant}
	var secs int64
	err := t.tx.QueryRow(ctx, `SELECT period_s, legal_hold, pruned_to FROM ledger_retention WHERE tenant = $1`, tenant).Scan(&secs, &r.LegalHold, &r.PrunedTo)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("postgres: retention of %q: %w", tenant, err)
	}
	r.Period = time.Duration(secs) * time.Second
	return r, nil
}

func (t *tx) Retentions(ctx context.Context) ([]scimtrail.Retention, error) {
	rows, err := t.tx.Query(ctx, `SELECT tenant, period_s, legal_hold, pruned_to FROM ledger_retention WHERE period_s > 0 ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("postgres: retention policies: %w", err)
	}
	defer rows.Close()
	var out []scimtrail.Retention
	for rows.Next() {
		var r scimtrail.Retention
		var secs int64
		if err := rows.Scan(&r.Tenant, &secs, &r.LegalHold, &r.PrunedTo); err != nil {
			return nil, fmt.Errorf("postgres: retention policies: %w", err)
		}
		r.Period = time.Duration(secs) * time.Second
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: retention policies: %w", err)
	}
	return out, nil
}

func (t *tx) FirstEntryAtOrAfter(ctx context.Context, tenant string, after, upTo int64, at time.Time) (int64, error) {
	var seq int64
	err := t.tx.QueryRow(ctx, `SELECT seq FROM ledger_entries WHERE tenant = $1 AND seq > $2 AND seq <= $3 AND time >= $4
		ORDER BY seq LIMIT 1`, tenant, after, upTo, at).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return upTo + 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: entries of %q: %w", tenant, err)
	}
	return seq, nil
}

func (t *tx) PutRetention(ctx context.Context, r scimtrail.Retention) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO ledger_retention (tenant, period_s, legal_hold, pruned_to) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant) DO UPDATE SET period_s = excluded.period_s, legal_hold = excluded.legal_hold, pruned_to = excluded.pruned_to`,
		r.Tenant, int64(r.Period/time.Second), r.LegalHold, r.PrunedTo)
	if err != nil {
		return fmt.Errorf("postgres: storing the retention of %q: %w", r.Tenant, err)
	}
	return nil
}

func (t *tx) PruneEntries(ctx context.Context, tenant string, from, to int64) (int64, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE ledger_entries SET body = NULL WHERE tenant = $1 AND seq >= $2 AND seq <= $3 AND body IS NOT NULL`, tenant, from, to)
	if err != nil {
		return 0, fmt.Errorf("postgres: pruning entries of %q: %w", tenant, err)
	}
	return tag.RowsAffected(), nil
}
