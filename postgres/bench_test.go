package postgres_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
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
