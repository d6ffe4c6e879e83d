package main

import (
	"context"
	"net/url"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/sqlite"
)

// isPostgres reports whether dsn selects PostgreSQL rather than a SQLite file path.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens (and migrates) the database that dsn names. onBatch, if set, is told the
// size of every committed write batch, for the metrics.
func openStore(ctx context.Context, dsn string, onBatch func(commands int)) (scimtrail.Store, error) {
	if isPostgres(dsn) {
		return postgres.Open(ctx, dsn, postgres.Options{OnBatch: onBatch})
	}
	// Only serve observes batches. The one-shot commands (audit verify and export, reports)
	// map the file for their long scans; serve does not, so its RSS stays bounded.
	return sqlite.Open(ctx, dsn, sqlite.Options{OnBatch: onBatch, MapReads: onBatch == nil})
}

// redactDSN hides a PostgreSQL password so the DSN can be logged.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}
