package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
	"github.com/scimtrail/scimtrail/sqlite"
)

// expiringStore lets the tenant's cached configuration go stale at the start of every
// write, as it does when a writer waited longer than ConfigTTL for the tenant's lock.
type expiringStore struct {
	scimtrail.Store
	svc *Service
}

func (s *expiringStore) Update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	s.svc.configs.mu.Lock()
	if tc := s.svc.configs.m[tenant]; tc != nil {
		tc.loaded = time.Now().Add(-2 * ConfigTTL)
	}
	s.svc.configs.mu.Unlock()
	return s.Store.Update(ctx, tenant, fn)
}

// TestWritesWithStaleConfigNeedOneConnection checks that a write whose configuration went
// stale while it waited reloads it through its own transaction. On PostgreSQL with a
// one-connection pool a second transaction inside the write can never get a connection;
// with a pool of 4 and 64 concurrent writers the same wait made seeding run at ~1 user/s.
func TestWritesWithStaleConfigNeedOneConnection(t *testing.T) {
	stores := map[string]func(t *testing.T) scimtrail.Store{
		"sqlite": func(t *testing.T) scimtrail.Store {
			db, err := sqlite.Open(t.Context(), t.TempDir()+"/c.db", sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
	if pgtest.DSN() != "" {
		stores["postgres"] = func(t *testing.T) scimtrail.Store {
			db, err := postgres.Open(t.Context(), pgtest.Schema(t, "cfg")+"&pool_max_conns=1", postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			es := &expiringStore{Store: open(t)}
			svc := New(es, Options{})
			es.svc = svc
			// A deadlock would otherwise hang until the test binary's timeout.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
			if _, _, err := svc.CreateTenant(ctx, o, "acme", "Acme"); err != nil {
				t.Fatal(err)
			}
			body := func(name string) []byte {
				return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}`, name)
			}
			v, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, body("alice"))
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, _, err := svc.ReplaceResource(ctx, o, "acme", scimtrail.UserResource, v.Resource.ID, body("alice2"), ""); err != nil {
				t.Fatalf("replace: %v", err)
			}
			patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
			got, _, err := svc.PatchResource(ctx, o, "acme", scimtrail.UserResource, v.Resource.ID, []byte(patch), "")
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if got.Resource.UserName != "alice2" || got.Resource.Active {
				t.Fatalf("after replace and patch: userName %q active %v, want alice2 false", got.Resource.UserName, got.Resource.Active)
			}
		})
	}
}
