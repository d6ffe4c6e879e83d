package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// interferingStore runs before the first n write commands (after the access plan of a
// mapping was decided outside the writer) another write to the same tenant, as a busy
// tenant's IdP would.
type interferingStore struct {
	*sqlite.DB
	n      int
	busy   bool
	before func()
}

func (s *interferingStore) Update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	if s.n > 0 && !s.busy {
		s.n--
		s.busy = true // the interfering write's own commands go straight through
		s.before()
		s.busy = false
	}
	return s.DB.Update(ctx, tenant, fn)
}

func mustInterferingService(t *testing.T) (*interferingStore, *service.Service) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), t.TempDir()+"/t.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := &interferingStore{DB: db}
	svc := service.New(store, service.Options{})
	if _, _, err := svc.CreateTenant(t.Context(), idp, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateRole(t.Context(), idp, "acme", service.RoleInput{ID: "viewer", Name: "Viewer"}); err != nil {
		t.Fatal(err)
	}
	return store, svc
}

func holders(t *testing.T, svc *service.Service) map[string]bool {
	t.Helper()
	ans, err := svc.AccessAt(t.Context(), "acme", svc.Now(), "", "viewer")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, u := range ans.Users {
		out[u.UserID] = true
	}
	return out
}

// TestMappingPlanGoesStale: members join the group between the moment the mapping's access
// plan is decided (outside the writer) and the moment the writer would apply it. A stale
// plan must not be applied: the newcomers get the role too, with access.granted entries
// caused by the mapping. Four interfering writes exhaust the outside attempts, so the last
// attempt decides inside the writer. Unmapping while one more joins revokes everyone.
func TestMappingPlanGoesStale(t *testing.T) {
	for _, interferences := range []int{1, 4} {
		store, svc := mustInterferingService(t)
		alice := mustCreate(t, svc, scimtrail.UserResource, user("alice"))
		g := mustCreate(t, svc, scimtrail.GroupResource, group("Eng", alice.Resource.ID))
		var joined []string
		store.before = func() {
			u := mustCreate(t, svc, scimtrail.UserResource, user(fmt.Sprintf("late%d", len(joined))))
			patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + u.Resource.ID + `"}]}]}`
			if _, _, err := svc.PatchResource(t.Context(), idp, "acme", scimtrail.GroupResource, g.Resource.ID, []byte(patch), ""); err != nil {
				t.Fatal(err)
			}
			joined = append(joined, u.Resource.ID)
		}
		store.n = interferences
		m, rc, err := svc.CreateMapping(t.Context(), idp, "acme", g.Resource.ID, "viewer")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(joined), interferences; got != want {
			t.Fatalf("%d interfering writes ran, want %d", got, want)
		}
		got := holders(t, svc)
		for _, id := range append(joined, alice.Resource.ID) {
			if !got[id] {
				t.Fatalf("after %d interfering writes, user %s does not hold viewer: holders %v", interferences, id, got)
			}
		}
		// The grants follow the mapping.created entry and name it as their cause.
		es := entries(t, svc)
		var mappingSeq int64
		granted := 0
		for i, e := range es {
			seq := int64(i + 1)
			if e.Action == "mapping.created" {
				mappingSeq = seq
			}
			if e.Action == "access.granted" {
				if mappingSeq == 0 || e.Cause != mappingSeq {
					t.Fatalf("access.granted at seq %d has cause %d, want the mapping.created seq %d", seq, e.Cause, mappingSeq)
				}
				granted++
			}
		}
		if got, want := granted, len(joined)+1; got != want {
			t.Fatalf("%d access.granted entries, want %d", got, want)
		}
		if rc.Seq != int64(len(es)) {
			t.Fatalf("receipt seq %d, want the last entry %d", rc.Seq, len(es))
		}
		store.n = 1
		if _, err := svc.DeleteMapping(t.Context(), idp, "acme", m.ID); err != nil {
			t.Fatal(err)
		}
		if got, want := len(joined), interferences+1; got != want {
			t.Fatalf("%d interfering writes ran, want %d", got, want)
		}
		if got := holders(t, svc); len(got) != 0 {
			t.Fatalf("after unmapping, holders %v, want none", got)
		}
	}
}
