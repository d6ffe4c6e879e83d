package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// TestRenderCacheBounded fills the cache far past both of its bounds and checks that it
// stays within them, and that what it returns is still each resource's own document.
func TestRenderCacheBounded(t *testing.T) {
	c := newRenderCache()
	c.max, c.bytes = 50, 20000
	rt := schema.User()
	at := time.Date(2026, 11, 29, 6, 40, 0, 0, time.UTC)
	for i := range 1000 {
		id := fmt.Sprintf("u%04d", i)
		v := service.View{Resource: scimtrail.Resource{Tenant: "acme", Type: scimtrail.UserResource, ID: id, UserName: id,
			Schemas: []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, Attributes: []byte(`{"userName":"` + id + `"}`),
			Created: at, LastModified: at, Version: 1}}
		for range 2 { // a miss, then a hit
			b, err := c.render(rt, v, "http://x/scim/v2/acme", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"id":"` + id + `"`; !strings.Contains(string(b), want) {
				t.Fatalf("document of %s: %s", id, b)
			}
		}
		if len(c.m) > c.max || c.size > c.bytes {
			t.Fatalf("after %d resources: %d entries, %d bytes; bounds %d, %d", i+1, len(c.m), c.size, c.max, c.bytes)
		}
	}
	total := 0
	for _, e := range c.m {
		total += len(e.body)
	}
	if total != c.size {
		t.Fatalf("size %d, but the entries hold %d bytes", c.size, total)
	}
}
