package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Retention policies and pruning (scimtrail.RetentionReadTx, RetentionTx).

func (t *txn) Retention(ctx context.Context, tenant string) (scimtrail.Retention, error) {
	r := scimtrail.Retention{Tenant: tenant}
	var secs int64
	err := t.queryRow(ctx, `SELECT period_s, legal_hold, pruned_to FROM ledger_retention WHERE tenant = ?`, tenant).Scan(&secs, &r.LegalHold, &r.PrunedTo)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	r.Period = time.Duration(secs) * time.Second
	return r, dbErr("reading a retention policy", err)
}

func (t *txn) Retentions(ctx context.Context) ([]scimtrail.Retention, error) {
	rows, err := t.query(ctx, `SELECT tenant, period_s, legal_hold, pruned_to FROM ledger_retention WHERE period_s > 0 ORDER BY tenant`)
	if err != nil {
		return nil, dbErr("reading retention policies", err)
	}
	defer rows.Close()
	var out []scimtrail.Retention
	for rows.Next() {
		var r scimtrail.Retention
		var secs int64
		if err := rows.Scan(&r.Tenant, &secs, &r.LegalHold, &r.PrunedTo); err != nil {
			return nil, dbErr("reading retention policies", err)
		}
		r.Period = time.Duration(secs) * time.Second
		out = append(out, r)
	}
	return out, dbErr("reading retention policies", rows.Err())
}

func (t *txn) FirstEntryAtOrAfter(ctx context.Context, tenant string, after, upTo int64, at time.Time) (int64, error) {
	var seq int64
	err := t.queryRow(ctx, `SELECT seq FROM ledger_entries WHERE tenant = ? AND seq > ? AND seq <= ? AND time_us >= ?
		ORDER BY seq LIMIT 1`, tenant, after, upTo, ceilMicros(at)).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return upTo + 1, nil
	}
	return seq, dbErr("reading ledger entries", err)
}

func (t *txn) PutRetention(ctx context.Context, r scimtrail.Retention) error {
	_, err := t.exec(ctx, `INSERT INTO ledger_retention (tenant, period_s, legal_hold, pruned_to) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET period_s = excluded.period_s, legal_hold = excluded.legal_hold, pruned_to = excluded.pruned_to`,
		r.Tenant, int64(r.Period/time.Second), r.LegalHold, r.PrunedTo)
	return dbErr("storing a retention policy", err)
}

func (t *txn) PruneEntries(ctx context.Context, tenant string, from, to int64) (int64, error) {
	res, err := t.exec(ctx, `UPDATE ledger_entries SET body = X'' WHERE tenant = ? AND seq >= ? AND seq <= ? AND length(body) > 0`, tenant, from, to)
	if err != nil {
		return 0, dbErr("pruning ledger entries", err)
	}
	n, err := res.RowsAffected()
	return n, dbErr("pruning ledger entries", err)
}
