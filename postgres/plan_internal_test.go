package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/scim/filter"
)

// captureTracer keeps the last statement that read resources, with its arguments.
type captureTracer struct {
	mu   sync.Mutex
	sql  string
	args []any
}

func (c *captureTracer) keep(sql string, args []any) {
	if strings.HasPrefix(sql, "SELECT r.tenant") {
		c.mu.Lock()
		c.sql, c.args = sql, args
		c.mu.Unlock()
	}
}

func (c *captureTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.keep(d.SQL, d.Args)
	return ctx
}

func (c *captureTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A session sends a transaction's first statement in a batch with BEGIN.
func (c *captureTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	for _, q := range d.Batch.QueuedQueries {
		c.keep(q.SQL, q.Arguments)
	}
	return ctx
}

func (c *captureTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *captureTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestUniqueEqualityPlanUsesUniqueIndex checks the plan of a `userName eq` and an `id eq`
// query on a freshly filled table that has not been analyzed (as after an initial sync,
// before autovacuum gets to it): it must look the row up through the unique index, not
// walk the tenant's users in creation order (36 ms instead of 0.04 ms at 10k users).
func TestUniqueEqualityPlanUsesUniqueIndex(t *testing.T) {
	if pgtest.DSN() == "" {
		t.Skip("SCIMTRAIL_TEST_POSTGRES is not set; run under scripts/with-postgres to test the postgres backend")
	}
	ctx := t.Context()
	var tr captureTracer
	db, err := open(ctx, pgtest.Schema(t, "plan"), Options{}, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = &tr })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Keep autovacuum away from this schema's table for the test's few seconds.
	if _, err := db.pool.Exec(ctx, `ALTER TABLE resources SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err = db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
		for i := range n {
			name := fmt.Sprintf("user%05d", i)
			r := scimtrail.Resource{Tenant: "acme", Type: scimtrail.UserResource, ID: fmt.Sprintf("id%05d", i),
				UserName: name, UserNameKey: name, Active: true, Attributes: []byte(`{}`),
				Created: at.Add(time.Duration(i) * time.Second), LastModified: at, Version: 1}
			if err := tx.InsertResource(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{fmt.Sprintf(`userName eq "user%05d"`, n-1), fmt.Sprintf(`id eq "id%05d"`, n-1)} {
		t.Run(f, func(t *testing.T) {
			e, err := filter.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			q := scimtrail.Query{Type: scimtrail.UserResource, Filter: e, StartIndex: 1, Count: 100}
			var page scimtrail.Page
			if err := db.View(ctx, func(tx scimtrail.ReadTx) error {
				page, err = tx.QueryResources(ctx, "acme", q)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if page.Total != 1 || len(page.Resources) != 1 {
				t.Fatalf("%s: %d results (total %d), want 1", f, len(page.Resources), page.Total)
			}
			want := map[string]string{"userName": "resources_user_name", "id": "resources_pkey"}[strings.Fields(f)[0]]
			checkLastPlan(t, db, &tr, want)
		})
	}
	// GET /Users/{id} and the userName eq fast path read the user with its groups in one
	// statement (UserWithGroups*), and every write reads its resource by id first
	// (Resource): the same unique lookups.
	for _, c := range []struct {
		name, want string
		read       func(scimtrail.ReadTx) error
	}{
		{"UserWithGroups", "resources_pkey", func(tx scimtrail.ReadTx) error {
			_, _, err := tx.UserWithGroups(ctx, "acme", fmt.Sprintf("id%05d", n-1))
			return err
		}},
		{"UserWithGroupsByName", "resources_user_name", func(tx scimtrail.ReadTx) error {
			_, _, err := tx.UserWithGroupsByName(ctx, "acme", fmt.Sprintf("user%05d", n-1))
			return err
		}},
		{"Resource", "resources_pkey", func(tx scimtrail.ReadTx) error {
			_, err := tx.Resource(ctx, "acme", scimtrail.UserResource, fmt.Sprintf("id%05d", n-1))
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := db.View(ctx, c.read); err != nil {
				t.Fatal(err)
			}
			checkLastPlan(t, db, &tr, c.want)
		})
	}
}

// checkLastPlan explains the last statement tr saw and fails unless its plan uses the index
// want and never resources_by_created.
func checkLastPlan(t *testing.T, db *DB, tr *captureTracer, want string) {
	t.Helper()
	tr.mu.Lock()
	sql, args := tr.sql, tr.args
	tr.mu.Unlock()
	var plan []byte
	if err := db.pool.QueryRow(t.Context(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plan); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var p []struct{ Plan planNode }
	if err := json.Unmarshal(plan, &p); err != nil || len(p) != 1 {
		t.Fatalf("explain output %s: %v", plan, err)
	}
	if idx := strings.Join(p[0].Plan.indexes(), " "); !strings.Contains(idx, want) || strings.Contains(idx, "resources_by_created") {
		t.Fatalf("plan uses indexes %q, want %s (plan %s of %s %v)", idx, want, plan, sql, args)
	}
}

type planNode struct {
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (p planNode) indexes() []string {
	var out []string
	if p.IndexName != "" {
		out = append(out, p.IndexName)
	}
	for _, c := range p.Plans {
		out = append(out, c.indexes()...)
	}
	return out
}
