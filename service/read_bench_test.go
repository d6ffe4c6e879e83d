package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// benchSize is the integer in the environment variable env, or def.
func benchSize(b *testing.B, env string, def int) int {
	if s := os.Getenv(env); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", env, s)
		}
		return n
	}
	return def
}

// benchStores opens the backends a read-path benchmark runs on: SQLite always, and
// PostgreSQL (a fresh schema) when SCIMTRAIL_TEST_POSTGRES is set.
func benchStores(b *testing.B, fn func(b *testing.B, s scimtrail.Store)) {
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(context.Background(), b.TempDir()+"/b.db", sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		fn(b, db)
	})
	if pgtest.DSN() != "" {
		b.Run("postgres", func(b *testing.B) {
			db, err := postgres.Open(context.Background(), pgtest.Schema(b, "bench"), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fn(b, db)
		})
	}
}

// benchTenant is a service on s with the tenant acme.
func benchTenant(b *testing.B, s scimtrail.Store) *service.Service {
	b.Helper()
	svc := service.New(s, service.Options{})
	if _, _, err := svc.CreateTenant(context.Background(), idp, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	return svc
}

// seedUsers creates n users through the service's write path (CreateResource, with
// their ledger entries: the same rows a POST /Users writes), 64 at a time so that group
// commit fills batches, and returns their ids and userNames by index.
func seedUsers(b *testing.B, svc *service.Service, tenant string, n int) (ids, names []string) {
	b.Helper()
	ids, names = make([]string, n), make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() != nil {
					return
				}
				names[i] = fmt.Sprintf("u%07d@example.com", i)
				body, _ := json.Marshal(map[string]any{
					"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": names[i],
					"externalId": fmt.Sprintf("ext-%d", i), "active": true,
					"name":   map[string]string{"givenName": fmt.Sprintf("Given%d", i), "familyName": fmt.Sprintf("Family%d", i)},
					"emails": []map[string]any{{"value": names[i], "type": "work", "primary": true}},
				})
				v, _, err := svc.CreateResource(context.Background(), idp, tenant, scimtrail.UserResource, body)
				if err != nil {
					failed.Store(err)
					return
				}
				ids[i] = v.Resource.ID
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("seeding users: %v", err)
	}
	return ids, names
}

// BenchmarkFilterEqLargeTenant is `filter=userName eq "…"` (the service's list with a
// filter, as GET /Users?filter= runs it, without HTTP) in a tenant of
// SCIMTRAIL_BENCH_USERS users (default 10k; issue 3 names 1M), each op a different user.
func BenchmarkFilterEqLargeTenant(b *testing.B) {
	n := benchSize(b, "SCIMTRAIL_BENCH_USERS", 10000)
	benchStores(b, func(b *testing.B, s scimtrail.Store) {
		svc, ctx := benchTenant(b, s), context.Background()
		ids, names := seedUsers(b, svc, "acme", n)
		i := 0
		b.ResetTimer()
		start := cpuTime()
		for b.Loop() {
			k := (i * 7919) % n // a stride through the tenant, not one hot row
			i++
			res, err := svc.ListResources(ctx, "acme", scimtrail.UserResource, service.ListQuery{Filter: `userName eq "` + names[k] + `"`, Count: -1})
			if err != nil {
				b.Fatal(err)
			}
			if res.Total != 1 || len(res.Views) != 1 || res.Views[0].Resource.ID != ids[k] {
				b.Fatalf("userName eq %q: total %d, %d views; want exactly user %s", names[k], res.Total, len(res.Views), ids[k])
			}
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(n), "users")
	})
}

// BenchmarkMemberPatchLargeGroup is a member PATCH on a group of
// SCIMTRAIL_BENCH_GROUP_MEMBERS members (default 10k; issue 3 names 100k): each op adds
// one user who is not a member and removes it again, two PATCH requests through
// PatchResource, each its own transaction with its ledger entries.
func BenchmarkMemberPatchLargeGroup(b *testing.B) {
	n := benchSize(b, "SCIMTRAIL_BENCH_GROUP_MEMBERS", 10000)
	const spare = 100 // users outside the group, to add and remove
	benchStores(b, func(b *testing.B, s scimtrail.Store) {
		svc, ctx := benchTenant(b, s), context.Background()
		ids, _ := seedUsers(b, svc, "acme", n+spare)
		members := make([]map[string]string, n)
		for i := range n {
			members[i] = map[string]string{"value": ids[i]}
		}
		body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone", "members": members})
		g, _, err := svc.CreateResource(ctx, idp, "acme", scimtrail.GroupResource, body)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(g.Members); got != n {
			b.Fatalf("the group has %d members, want %d", got, n)
		}
		i := 0
		b.ResetTimer()
		for b.Loop() {
			id := ids[n+i%spare]
			i++
			add := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`
			v, _, err := svc.PatchResource(ctx, idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(add), "")
			if err != nil {
				b.Fatal(err)
			}
			if len(v.Members) != n+1 {
				b.Fatalf("after add: %d members, want %d", len(v.Members), n+1)
			}
			remove := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"` + id + `\"]"}]}`
			if v, _, err = svc.PatchResource(ctx, idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(remove), ""); err != nil {
				b.Fatal(err)
			}
			if len(v.Members) != n {
				b.Fatalf("after remove: %d members, want %d", len(v.Members), n)
			}
		}
		b.ReportMetric(float64(n), "members")
	})
}

// BenchmarkGetUserAuthenticated is the read path of GET /Users/{id} without HTTP: the
// bearer token's lookup and the user with its groups, as two reads (Authenticate, then
// Resource) and as one (AuthenticateWithUser), each op a different user of
// SCIMTRAIL_BENCH_USERS (default 10k), a fifth of them in a group.
func BenchmarkGetUserAuthenticated(b *testing.B) {
	b.Run("two-reads", func(b *testing.B) {
		benchGetUser(b, func(svc *service.Service, secret, id string) (service.View, error) {
			if _, err := svc.Authenticate(context.Background(), secret); err != nil {
				return service.View{}, err
			}
			return svc.Resource(context.Background(), "acme", scimtrail.UserResource, id)
		})
	})
	// What GET /Users/{id} runs: the token and the user in one read (TokenAndUser).
	b.Run("one-read", func(b *testing.B) {
		benchGetUser(b, func(svc *service.Service, secret, id string) (service.View, error) {
			_, u, err := svc.AuthenticateWithUser(context.Background(), secret, "acme", id)
			if err != nil {
				return service.View{}, err
			}
			return u.View, u.Err
		})
	})
}

func benchGetUser(b *testing.B, get func(svc *service.Service, secret, id string) (service.View, error)) {
	n := benchSize(b, "SCIMTRAIL_BENCH_USERS", 10000)
	benchStores(b, func(b *testing.B, s scimtrail.Store) {
		svc, ctx := benchTenant(b, s), context.Background()
		tok, _, err := svc.IssueToken(ctx, idp, "acme", scimtrail.TokenSCIM, "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		ids, _ := seedUsers(b, svc, "acme", n)
		inGroup := map[string]bool{}
		for g := 0; g*50 < n/5; g++ {
			var members []map[string]string
			for k := g * 50; k < min((g+1)*50, n/5); k++ {
				members = append(members, map[string]string{"value": ids[k*5%n]})
				inGroup[ids[k*5%n]] = true
			}
			body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": fmt.Sprintf("group %d", g), "members": members})
			if _, _, err := svc.CreateResource(ctx, idp, "acme", scimtrail.GroupResource, body); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		b.ResetTimer()
		start := cpuTime()
		for b.Loop() {
			k := (i * 7919) % n
			i++
			v, err := get(svc, tok.Secret, ids[k])
			if err != nil {
				b.Fatal(err)
			}
			if v.Resource.ID != ids[k] || (len(v.Groups) == 1) != inGroup[ids[k]] {
				b.Fatalf("user %s: got %s with groups %v, want in a group: %v", ids[k], v.Resource.ID, v.Groups, inGroup[ids[k]])
			}
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
}
