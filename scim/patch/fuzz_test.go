package patch_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// FuzzParsePath checks that ParsePath never panics, fails only with invalidPath, and that a
// parsed path prints to text that parses back to the same path. Seeds are in
// testdata/fuzz/FuzzParsePath.
func FuzzParsePath(f *testing.F) {
	f.Add(`emails[type eq "work"].value`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := patch.ParsePath(s)
		if err != nil {
			var e *scimtrail.Error
			if !errors.As(err, &e) || e.Code != scimtrail.EINVALID || e.ScimType != scimtrail.ScimInvalidPath {
				t.Fatalf("ParsePath(%q) error %#v, want EINVALID invalidPath", s, err)
			}
			return
		}
		printed := p.String()
		q, err := patch.ParsePath(printed)
		if err != nil {
			t.Fatalf("ParsePath(%q) ok, but its String %q does not parse: %v", s, printed, err)
		}
		if q.String() != printed || q.URN != p.URN || q.Attr != p.Attr || q.Sub != p.Sub {
			t.Fatalf("round trip of %q: %+v printed %q reparsed %+v", s, p, printed, q)
		}
	})
}

// FuzzApply feeds request bodies through ParseRequest and Apply on the RFC 7643 §8.2 User
// and on a Group: no panics, only EINVALID errors, the input is never modified, and a
// successful result is a document schema.Normalize accepts. Seeds are in
// testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"title","value":"x"}]}`))
	user, group := schema.User(), schema.Group()
	userDoc, groupDoc := loadDoc(f, "user-8.2.json"), loadDoc(f, "group-8.4.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := patch.ParseRequest(body)
		if err != nil {
			if scimtrail.ErrorCode(err) != scimtrail.EINVALID || scimtrail.ErrorScimType(err) == "" {
				t.Fatalf("ParseRequest error %#v, want EINVALID with a scimType", err)
			}
			return
		}
		for _, tc := range []struct {
			rt   *schema.ResourceType
			doc  map[string]any
			file string
		}{{user, userDoc, "user-8.2.json"}, {group, groupDoc, "group-8.4.json"}} {
			res, err := patch.Apply(tc.rt, tc.doc, ops)
			if diff := cmp.Diff(loadDoc(t, tc.file), tc.doc); diff != "" {
				t.Fatalf("Apply modified its input (-before +after):\n%s", diff)
			}
			if err != nil {
				if scimtrail.ErrorCode(err) != scimtrail.EINVALID || scimtrail.ErrorScimType(err) == "" {
					t.Fatalf("Apply error %#v, want EINVALID with a scimType", err)
				}
				continue
			}
			if _, err := tc.rt.Normalize(res.Doc); err != nil {
				t.Fatalf("%s result does not pass Normalize: %v\ndoc: %v", tc.rt.Name, err, res.Doc)
			}
			if _, ok := res.Doc["members"]; ok {
				t.Fatalf("members in the doc: %v", res.Doc)
			}
			for _, m := range res.Members {
				if len(m.Values) != len(m.Types) {
					t.Fatalf("MemberOp Values and Types differ in length: %+v", m)
				}
				for _, v := range m.Values {
					if v == "" {
						t.Fatalf("empty member id: %+v", m)
					}
				}
			}
		}
	})
}
