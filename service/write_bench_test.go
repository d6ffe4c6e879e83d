package service

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/sqlite"
)

// BenchmarkUserWritesSQLite measures the SCIM user write path without HTTP: CreateResource,
// PatchResource (active, as the load tool's patch_active) and ReplaceResource from 8
// concurrent callers on durable SQLite, so the writer groups them as under the server. It
// reports the process's CPU time per operation (cpu-µs/op: the shared machine's load moves
// ns/op far more) and the commands per group-commit batch.
func BenchmarkUserWritesSQLite(b *testing.B) {
	body := func(i int64, given string, active bool) []byte {
		return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%06d@example.com",`+
			`"externalId":"ext-%d","active":%t,"name":{"givenName":%q,"familyName":"Family%d"},`+
			`"emails":[{"value":"u%06d@example.com","type":"work","primary":true}]}`, i, i, active, given, i, i)
	}
	for _, op := range []string{"create", "patch_active", "put"} {
		b.Run(op, func(b *testing.B) {
			ctx := context.Background()
			var batches, commands atomic.Int64
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{OnBatch: func(n int) {
				batches.Add(1)
				commands.Add(int64(n))
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s := New(db, Options{})
			o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: "tok_bench"}, Channel: scimtrail.ChannelSCIM}
			if _, _, err := s.CreateTenant(ctx, o, "acme", "Acme"); err != nil {
				b.Fatal(err)
			}
			const users = 2000
			var ids []string
			if op != "create" {
				for i := range int64(users) {
					v, _, err := s.CreateResource(ctx, o, "acme", scimtrail.UserResource, body(i, "Given", true))
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, v.Resource.ID)
				}
			}
			var n atomic.Int64
			batches.Store(0)
			commands.Store(0)
			b.SetParallelism(4) // 8 callers on 2 cores, as the load tool's default
			start := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					var err error
					switch op {
					case "create":
						_, _, err = s.CreateResource(ctx, o, "acme", scimtrail.UserResource, body(users+i, "Given", true))
					case "patch_active":
						patch := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":%t}]}`, i/users%2 == 1)
						_, _, err = s.PatchResource(ctx, o, "acme", scimtrail.UserResource, ids[i%users], patch, "")
					case "put":
						_, _, err = s.ReplaceResource(ctx, o, "acme", scimtrail.UserResource, ids[i%users], body(i%users, fmt.Sprint("Given", i), true), "")
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportCPU(b, start, int64(b.N), "cpu-ns/op")
			if k := batches.Load(); k > 0 {
				b.ReportMetric(float64(commands.Load())/float64(k), "commands/batch")
			}
		})
	}
}
