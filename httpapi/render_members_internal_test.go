package httpapi

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// TestRenderGroupMatchesEncodingJSON renders groups through renderGroup and through the
// general path (Render, Project, encoding/json) and wants the same bytes: members whose
// ids and displays need escaping (quotes, backslashes, control characters, HTML
// characters, U+2028, invalid UTF-8, non-ASCII), members without display, users and groups
// as members, and documents with keys before and after "members" (an extension URN, a key
// the schema does not describe).
func TestRenderGroupMatchesEncodingJSON(t *testing.T) {
	ext, err := schema.ParseCustomExtension([]byte(`{"id":"urn:example:ext:Group","resourceType":"group","attributes":[{"name":"site","type":"string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	withExt := schema.Group().WithExtensions(schema.Extension{Schema: ext.Schema})
	at := time.Date(2026, 11, 29, 6, 40, 0, 123456000, time.UTC)
	odd := []string{"plain", `quo"te`, `back\slash`, "tab\there", "nl\n", "<b>&amp;</b>", "line\u2028sep", "bad\xffutf8", "café", "\x7f", ""}
	var members []scimtrail.MemberRef
	for i, s := range odd {
		typ := scimtrail.UserResource
		if i%3 == 0 {
			typ = scimtrail.GroupResource
		}
		members = append(members, scimtrail.MemberRef{Value: fmt.Sprintf("m%02d%s", i, s), Type: typ, Display: s})
	}
	for _, tc := range []struct {
		name  string
		rt    *schema.ResourceType
		attrs string
		base  string
	}{
		{"Plain", schema.Group(), `{"displayName":"Engineers"}`, "http://x/scim/v2/acme"},
		{"ExternalIDAndUnknownKeys", schema.Group(), `{"displayName":"E\"ng","externalId":"ext-1","aaa":1,"zzz":{"k":[true,null]}}`, "https://h/scim/v2/a%20b"},
		{"Extension", withExt, `{"displayName":"Engineers","urn:example:ext:Group":{"site":"<b>"}}`, "http://x/scim/v2/acme"},
		{"NoDisplayName", schema.Group(), `{}`, "http://x/scim/v2/acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schemas := []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}
			if tc.rt != schema.Group() && len(tc.rt.Extensions) > 0 {
				schemas = append(schemas, "urn:example:ext:Group")
			}
			for _, ms := range [][]scimtrail.MemberRef{members, members[:1], members[len(members)-1:]} {
				v := service.View{Resource: scimtrail.Resource{Tenant: "acme", Type: scimtrail.GroupResource, ID: "g1",
					DisplayName: "Engineers", Schemas: schemas, Attributes: []byte(tc.attrs), Created: at, LastModified: at, Version: 7},
					Members: ms}
				want, err := encodeJSON(tc.rt.Project(service.Render(v, tc.base), nil, nil))
				if err != nil {
					t.Fatal(err)
				}
				want = bytes.TrimSuffix(want, []byte("\n"))
				c := newRenderCache()
				got, ok, err := c.renderGroup(tc.rt, v, tc.base)
				if err != nil || !ok {
					t.Fatalf("renderGroup: ok %v, err %v", ok, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("renderGroup with %d members:\n got %s\nwant %s", len(ms), got, want)
				}
				// And through the cache's entry point, miss then hit.
				for range 2 {
					if got, err := c.render(tc.rt, v, tc.base, nil, nil); err != nil || !bytes.Equal(got, want) {
						t.Errorf("render: %v\n got %s\nwant %s", err, got, want)
					}
				}
			}
		})
	}
}

// TestRenderGroupDeclinesAProjectionThatChangesMembers: a resource type whose default view
// hides a member sub-attribute goes through the general path.
func TestRenderGroupDeclinesAProjectionThatChangesMembers(t *testing.T) {
	rt := schema.Group()
	s := *rt.Schema
	s.Attributes = append([]schema.Attribute(nil), rt.Schema.Attributes...)
	for i, a := range s.Attributes {
		if a.Name == "members" {
			subs := append([]schema.Attribute(nil), a.SubAttributes...)
			for j := range subs {
				if subs[j].Name == "display" {
					subs[j].Returned = schema.ReturnedNever
				}
			}
			s.Attributes[i].SubAttributes = subs
		}
	}
	hiding := *rt
	hiding.Schema = &s
	c := newRenderCache()
	v := service.View{Resource: scimtrail.Resource{Tenant: "acme", Type: scimtrail.GroupResource, ID: "g1",
		Schemas: []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, Attributes: []byte(`{"displayName":"E"}`), Version: 1},
		Members: []scimtrail.MemberRef{{Value: "u1", Type: scimtrail.UserResource, Display: "alice"}}}
	if _, ok, _ := c.renderGroup(&hiding, v, "http://x"); ok {
		t.Fatal("renderGroup rendered members that the projection changes")
	}
	got, err := c.render(&hiding, v, "http://x", nil, nil)
	if err != nil || bytes.Contains(got, []byte("alice")) {
		t.Fatalf("render = %s, %v; want members without display", got, err)
	}
}
