package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// BenchmarkMapLargeGroup maps a group of SCIMTRAIL_BENCH_MEMBERS users (default 10k; the
// access issue's figure is 100k) to a role and removes the mapping again: each operation
// recomputes every member's access and appends one access.* entry per member, in one
// transaction. Results are in docs/benchmarks.md.
func BenchmarkMapLargeGroup(b *testing.B) {
	n := 10000
	if s := os.Getenv("SCIMTRAIL_BENCH_MEMBERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir()+"/b.db", sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{})
	if _, _, err := svc.CreateTenant(ctx, idp, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	members := make([]map[string]string, n)
	err = db.Update(ctx, "acme", func(tx scimtrail.Tx) error {
		for i := range n {
			id := fmt.Sprintf("u%06d", i)
			name := "user" + id
			members[i] = map[string]string{"value": id}
			r := scimtrail.Resource{Tenant: "acme", Type: scimtrail.UserResource, ID: id, UserName: name, UserNameKey: name, Active: true,
				Schemas: []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, Attributes: json.RawMessage(`{"userName":"` + name + `","active":true}`),
				Created: now, LastModified: now, Version: 1}
			if err := tx.InsertResource(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone", "members": members})
	g, _, err := svc.CreateResource(ctx, idp, "acme", scimtrail.GroupResource, body)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.CreateRole(ctx, idp, "acme", service.RoleInput{ID: "viewer", Name: "Viewer"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		m, _, err := svc.CreateMapping(ctx, idp, "acme", g.Resource.ID, "viewer")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.DeleteMapping(ctx, idp, "acme", m.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "members")
}
