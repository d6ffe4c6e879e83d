// Package pgtest isolates tests that use PostgreSQL: each gets its own empty schema on the
// database named by SCIMTRAIL_TEST_POSTGRES (which `make test` sets through
// scripts/with-postgres), dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN is the environment variable holding the test database's DSN.
const EnvDSN = "SCIMTRAIL_TEST_POSTGRES"

// DSN returns the test database's DSN, or "" when PostgreSQL tests are not configured.
func DSN() string { return os.Getenv(EnvDSN) }

// Schema creates an empty schema named prefix_<random hex>, dropped when the test ends, and
// returns a DSN whose search_path is that schema, so that every table — goose's version
// table too — lands there. Close pools opened on it in a Cleanup registered after this call
// (cleanups run last-in first-out), so they close before the schema is dropped.
func Schema(tb testing.TB, prefix string) string {
	tb.Helper()
	dsn := DSN()
	if dsn == "" {
		tb.Fatalf("%s is not set", EnvDSN)
	}
	var b [8]byte
	rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	// The name is ours (a fixed prefix and hex), so formatting it into the statement is safe.
	if err := exec("CREATE SCHEMA " + name); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s must be a postgres:// URL: %v", EnvDSN, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
