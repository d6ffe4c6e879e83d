package postgres_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/service"
)

// BenchmarkServiceOps times one request's store work at a time through the service, so
// ns/op is mostly round trips to PostgreSQL: token lookup, GET by id, userName eq, create
// and PATCH of a user, on a tenant of 1,000 users. roundtrips/op counts the client's
// network writes, which does not depend on how busy the machine is.
//
//	scripts/with-postgres go test ./postgres -run '^$' -bench ServiceOps -benchtime 2000x -count 3
func BenchmarkServiceOps(b *testing.B) {
	ctx := b.Context()
	var writes atomic.Int64
	db, err := postgres.OpenCountingWrites(ctx, MustCreateSchema(b), postgres.Options{}, &writes)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "bench"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, o, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	tok, _, err := svc.IssueToken(ctx, o, "acme", scimtrail.TokenSCIM, "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	user := func(name string) []byte {
		return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q}]}`, name, name+"@example.com")
	}
	const n = 1000
	ids := make([]string, n)
	for i := range n {
		v, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, user(fmt.Sprintf("u%04d", i)))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = v.Resource.ID
	}
	run := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			start := writes.Load()
			fn(b)
			b.ReportMetric(float64(writes.Load()-start)/float64(b.N), "roundtrips/op")
		})
	}
	run("Authenticate", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.Authenticate(ctx, tok.Secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := svc.Resource(ctx, "acme", scimtrail.UserResource, ids[i%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("FilterUserNameEq", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			res, err := svc.ListResources(ctx, "acme", scimtrail.UserResource, service.ListQuery{Filter: fmt.Sprintf(`userName eq "u%04d"`, i%n), Count: -1})
			if err != nil || res.Total != 1 {
				b.Fatalf("filter: %d results, %v", res.Total, err)
			}
		}
	})
	run("Create", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, user(fmt.Sprintf("c%d-%d", b.N, i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("Patch", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":%v}]}`, i%2 == 0)
			if _, _, err := svc.PatchResource(ctx, o, "acme", scimtrail.UserResource, ids[i%n], body, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkManyTenants answers issue 8's "1,000 tenants in one database": SCIMTRAIL_BENCH_TENANTS
// tenants (default 1,000) of SCIMTRAIL_BENCH_TENANT_USERS users each (default 10), all
// created through the service (state and ledger). StartUp is what `scimtrail serve` does
// with the store before it listens (open and migrate, install id, the ledger tile check),
// also on a one-tenant schema for comparison; the filters pick a random tenant each time,
// StoreFilterUserNameEq through the store alone, FilterUserNameEq through the service
// (which also reloads the tenant's settings when its cached copy is older than ConfigTTL).
//
//	scripts/with-postgres go test ./postgres -run '^$' -bench ManyTenants -benchtime 20x
func BenchmarkManyTenants(b *testing.B) {
	ctx := b.Context()
	tenants := envInt(b, "SCIMTRAIL_BENCH_TENANTS", 1000)
	users := envInt(b, "SCIMTRAIL_BENCH_TENANT_USERS", 10)
	o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "bench"}, Channel: scimtrail.ChannelSystem}
	seed := func(dsn string, tenants int) {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		svc := service.New(db, service.Options{})
		work := make(chan int)
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		for range 8 {
			wg.Go(func() {
				for t := range work {
					tenant := fmt.Sprintf("t%04d", t)
					if _, _, err := svc.CreateTenant(ctx, o, tenant, tenant); err != nil {
						failed.Store(&err)
						continue
					}
					for u := range users {
						body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%03d@%s.example"}`, u, tenant)
						if _, _, err := svc.CreateResource(ctx, o, tenant, scimtrail.UserResource, body); err != nil {
							failed.Store(&err)
						}
					}
				}
			})
		}
		for t := range tenants {
			work <- t
		}
		close(work)
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
	}
	startUp := func(b *testing.B, dsn string) {
		for b.Loop() {
			db, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			svc := service.New(db, service.Options{})
			if _, err := svc.InstallID(ctx); err != nil {
				b.Fatal(err)
			}
			if err := svc.BackfillTiles(ctx, slog.New(slog.DiscardHandler)); err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	}
	one, many := MustCreateSchema(b), MustCreateSchema(b)
	seed(one, 1)
	start := time.Now()
	seed(many, tenants)
	b.Logf("seeded %d tenants × %d users in %v", tenants, users, time.Since(start).Round(time.Millisecond))

	b.Run("StartUp/tenants=1", func(b *testing.B) { startUp(b, one) })
	b.Run(fmt.Sprintf("StartUp/tenants=%d", tenants), func(b *testing.B) { startUp(b, many) })

	db, err := postgres.Open(ctx, many, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	rnd := rand.New(rand.NewPCG(1, 2))
	b.Run("StoreFilterUserNameEq", func(b *testing.B) {
		for b.Loop() {
			tenant, u := fmt.Sprintf("t%04d", rnd.IntN(tenants)), rnd.IntN(users)
			e, err := filter.Parse(fmt.Sprintf(`userName eq "u%03d@%s.example"`, u, tenant))
			if err != nil {
				b.Fatal(err)
			}
			var page scimtrail.Page
			err = db.View(ctx, func(tx scimtrail.ReadTx) error {
				page, err = tx.QueryResources(ctx, tenant, scimtrail.Query{Type: scimtrail.UserResource, Filter: e, StartIndex: 1, Count: 100})
				return err
			})
			if err != nil || page.Total != 1 {
				b.Fatalf("filter in %s: %d results, %v", tenant, page.Total, err)
			}
		}
	})
	b.Run("FilterUserNameEq", func(b *testing.B) {
		for b.Loop() {
			tenant, u := fmt.Sprintf("t%04d", rnd.IntN(tenants)), rnd.IntN(users)
			res, err := svc.ListResources(ctx, tenant, scimtrail.UserResource, service.ListQuery{Filter: fmt.Sprintf(`userName eq "u%03d@%s.example"`, u, tenant), Count: -1})
			if err != nil || res.Total != 1 {
				b.Fatalf("filter in %s: %d results, %v", tenant, res.Total, err)
			}
		}
	})
}

func envInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return n
	}
	return def
}
