package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/sqlite"
	"github.com/scimtrail/scimtrail/storetest"
)

// MustOpenDB opens a fresh database in a temporary directory and closes it when tb ends.
func MustOpenDB(tb testing.TB, opts sqlite.Options) *sqlite.DB {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "data", "scimtrail.db"), opts)
}

func mustOpenAt(tb testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) scimtrail.Store { return MustOpenDB(tb, sqlite.Options{}) })
}
