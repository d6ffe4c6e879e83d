package service

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/sqlite"
)

// TestConfigReloadKeepsUnchangedResourceTypes checks that refreshing a tenant's cached
// configuration after ConfigTTL keeps the same resource type values when its custom
// schemas did not change (httpapi's render cache is keyed by them), and builds new ones
// when they did, also when the change was made through another replica.
func TestConfigReloadKeepsUnchangedResourceTypes(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, replica := New(db, Options{}), New(db, Options{})
	o := Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, o, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	expire := func() {
		svc.configs.mu.Lock()
		svc.configs.m["acme"].loaded = time.Now().Add(-2 * ConfigTTL)
		svc.configs.mu.Unlock()
	}
	rt := func() *tenantConfig {
		t.Helper()
		tc, err := svc.config(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	first := rt()
	expire()
	if again := rt(); again == first || again.users != first.users || again.groups != first.groups {
		t.Fatalf("a reload with unchanged schemas built new resource types (config %p→%p, users %p→%p)", first, again, first.users, again.users)
	}
	def := `{"id":"urn:acme:params:scim:schemas:extension:acme:2.0:User","name":"AcmeUser","resourceType":"User",` +
		`"attributes":[{"name":"costCenter","type":"string"}]}`
	if _, _, err := replica.RegisterSchema(ctx, o, "acme", []byte(def)); err != nil {
		t.Fatalf("RegisterSchema: %v", err)
	}
	expire()
	changed := rt()
	if changed.users == first.users {
		t.Fatal("a reload after another replica registered a schema kept the old User resource type")
	}
	expire()
	if again := rt(); again.users != changed.users {
		t.Fatal("a second reload with unchanged schemas built a new User resource type")
	}
}
