package dialect_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/internal/idprecord"

	"github.com/scimtrail/scimtrail/scim/dialect"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// recorded is one file of testdata/idp: a request an IdP sends, as its documentation
// shows it, and what must come of it.
type recorded = idprecord.Request

// placeholders are the ids the replay binds; the HTTP replay binds the ids it created.
var placeholders = strings.NewReplacer("{userId}", "u-1", "{userId2}", "u-2", "{groupId}", "g-1")

// keep is a member of the sample group that no request names: it must survive every
// request that does not replace the whole membership.
const keep = "m-keep"

func decode(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// sampleUser is a stored User (canonical form, as the service keeps it) carrying every
// attribute the recorded requests touch, so that a lost attribute shows.
func sampleUser(tb testing.TB) map[string]any {
	return decode(tb, []byte(`{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "`+enterprise+`"],
		"userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"active": true,
		"displayName": "Sample",
		"name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"emails": [{"value": "Test_User_11bb11bb@testuser.com", "type": "work", "primary": true},
		           {"value": "other@example.com", "type": "other"}],
		"`+enterprise+`": {"employeeNumber": "1", "department": "Sales"}
	}`)).(map[string]any)
}

func sampleGroup(tb testing.TB) map[string]any {
	return decode(tb, []byte(`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"displayName": "Sample Group", "externalId": "8aa1a0c0"}`)).(map[string]any)
}

func loadRecorded(tb testing.TB) map[string]recorded {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "idp", "*", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) < 30 {
		tb.Fatalf("found %d recorded requests under testdata/idp; want the Entra and Okta sets", len(files))
	}
	out := map[string]recorded{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var r recorded
		dec := json.NewDecoder(strings.NewReader(placeholders.Replace(string(b))))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		if r.Method == "" || r.Path == "" || r.Expect.Status == 0 || r.Headers["User-Agent"] == "" {
			tb.Fatalf("%s: method, path, headers.User-Agent and expect.status are required", f)
		}
		rel, _ := filepath.Rel(filepath.Join("..", "..", "testdata", "idp"), f)
		out[filepath.ToSlash(rel)] = r
	}
	return out
}

// TestReplay replays every recorded IdP request through the dialect and the strict engine,
// as the service does, under the tenant settings that must accept it: auto (as detected
// from the request), the IdP's own dialect, and auto for a sender it does not recognise.
func TestReplay(t *testing.T) {
	for name, r := range loadRecorded(t) {
		query, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatalf("%s: query: %v", name, err)
		}
		own := dialect.Dialect(strings.SplitN(name, "/", 2)[0])
		for _, d := range []dialect.Dialect{
			dialect.Resolve(dialect.Auto, r.Headers["User-Agent"], query),
			own,
			dialect.Auto,
		} {
			t.Run(name+"/"+string(d), func(t *testing.T) { replay(t, d, r, query) })
		}
	}
}

func replay(t *testing.T, d dialect.Dialect, r recorded, query url.Values) {
	rt := schema.User()
	if strings.HasPrefix(r.Path, "/Groups") {
		rt = schema.Group()
	}
	switch r.Method {
	case "GET", "DELETE":
		if r.Expect.Status >= 300 {
			t.Fatalf("status %d: documented reads and deletes succeed", r.Expect.Status)
		}
		if f := query.Get("filter"); f != "" {
			e, err := filter.Parse(f)
			if err != nil {
				t.Fatalf("filter %q: %v", f, err)
			}
			if err := filter.Validate(e, rt); err != nil {
				t.Fatalf("filter %q: %v", f, err)
			}
		}
		return
	case "POST", "PUT":
		in := decode(t, r.Body).(map[string]any)
		before := string(mustJSON(t, in))
		doc, err := rt.Normalize(dialect.NormalizeResource(d, rt, in))
		if err != nil {
			t.Fatalf("%s %s under %s: %v", r.Method, r.Path, d, err)
		}
		if after := string(mustJSON(t, in)); after != before {
			t.Errorf("NormalizeResource modified its input:\n%s\nbecame\n%s", before, after)
		}
		if rt.Schema.ID == schema.UserSchema {
			if _, ok := in["password"]; ok && doc["password"] == nil {
				t.Errorf("password was dropped; the service must see it to hash or refuse it")
			}
		}
		assertMatches(t, rt, doc, r.Expect.Match)
	case "PATCH":
		ops, err := patch.ParseRequest(r.Body)
		if err != nil {
			t.Fatalf("ParseRequest: %v", err)
		}
		ops, err = dialect.NormalizePatch(d, rt, ops)
		if err != nil {
			t.Fatalf("NormalizePatch: %v", err)
		}
		stored := sampleUser(t)
		if rt.Schema.ID == schema.GroupSchema {
			stored = sampleGroup(t)
		}
		res, err := patch.Apply(rt, stored, ops)
		if err != nil {
			t.Fatalf("PATCH %s under %s: %v", r.Path, d, err)
		}
		next, err := rt.Normalize(res.Doc)
		if err != nil {
			t.Fatalf("the patched document does not validate: %v", err)
		}
		// Never data loss: no recorded PATCH removes an attribute.
		for k := range stored {
			if _, ok := next[k]; !ok {
				t.Errorf("attribute %s was lost; before %v, after %v", k, stored[k], next)
			}
		}
		assertMatches(t, rt, next, r.Expect.Match)
		if m := r.Expect.Members; m != nil {
			assertMembers(t, res.Members, m.Present, m.Absent, m.Others == "kept")
		} else if len(res.Members) > 0 {
			t.Errorf("unexpected member operations %+v", res.Members)
		}
	default:
		t.Fatalf("method %q", r.Method)
	}
}

func assertMatches(t *testing.T, rt *schema.ResourceType, doc map[string]any, filters []string) {
	t.Helper()
	if len(filters) == 0 {
		return
	}
	for _, s := range filters {
		e, err := filter.Parse(s)
		if err != nil {
			t.Fatalf("expect.match %q: %v", s, err)
		}
		if !filter.Match(e, doc, rt) {
			t.Errorf("the result does not match %s:\n%s", s, mustJSON(t, doc))
		}
	}
}

// assertMembers runs member operations against a group whose members are keep and the
// ones expected absent (so that a removal has something to remove), as the store would.
func assertMembers(t *testing.T, ops []patch.MemberOp, present, absent []string, othersKept bool) {
	t.Helper()
	members := map[string]bool{keep: true}
	for _, id := range absent {
		members[id] = true
	}
	el := patch.ElementSchema(mustMembersAttr(t))
	for _, op := range ops {
		switch op.Kind {
		case patch.MemberAdd:
			for _, id := range op.Values {
				members[id] = true
			}
		case patch.MemberRemove:
			for _, id := range op.Values {
				delete(members, id)
			}
			if op.Filter != nil {
				for id := range members {
					if filter.Match(op.Filter, map[string]any{"value": id, "type": "User"}, el) {
						delete(members, id)
					}
				}
			}
		case patch.MemberReplace:
			clear(members)
			for _, id := range op.Values {
				members[id] = true
			}
		case patch.MemberRemoveAll:
			clear(members)
		}
	}
	for _, id := range present {
		if !members[id] {
			t.Errorf("member %s is missing after %+v", id, ops)
		}
	}
	for _, id := range absent {
		if members[id] && !slices.Contains(present, id) {
			t.Errorf("member %s is still there after %+v", id, ops)
		}
	}
	if members[keep] != othersKept {
		t.Errorf("member %s, which the request does not name: present=%v, want %v (ops %+v)", keep, members[keep], othersKept, ops)
	}
}

func mustMembersAttr(t *testing.T) *schema.Attribute {
	t.Helper()
	a, ok := schema.Group().Lookup("", "members", "")
	if !ok {
		t.Fatal("Group has no members attribute")
	}
	return a
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestReplayStrictRejects shows that the dialect is what makes these documented requests
// work: the strict engine alone answers each of them with 400.
func TestReplayStrictRejects(t *testing.T) {
	all := loadRecorded(t)
	for _, name := range []string{
		"entra/07-disable-user-without-flag.json",          // "False"
		"entra/12-replace-multiple-with-flag.json",         // "name.givenName" as a key
		"entra/13-add-manager.json",                        // unqualified manager, as an array
		"entra/14-replace-manager-pathless-with-flag.json", // manager as a bare id
		"entra/16-create-user-provisioning-example.json",   // "…:2.0User", "department": null
		"entra/17-create-group.json",                       // the ADSCIM schema URN
		"okta/11-update-group-name.json",                   // "id" echoed in a path-less replace
	} {
		r, ok := all[name]
		if !ok {
			t.Fatalf("%s is missing from testdata/idp", name)
		}
		t.Run(name, func(t *testing.T) {
			if err := strictOutcome(t, r); err == nil {
				t.Errorf("the strict engine accepts %s; it no longer needs the dialect, so the fixture proves nothing", name)
			}
		})
	}
}

// strictOutcome runs r through the engine without any dialect and returns its error.
func strictOutcome(t *testing.T, r recorded) error {
	t.Helper()
	rt := schema.User()
	if strings.HasPrefix(r.Path, "/Groups") {
		rt = schema.Group()
	}
	if r.Method == "PATCH" {
		ops, err := patch.ParseRequest(r.Body)
		if err != nil {
			return err
		}
		stored := sampleUser(t)
		if rt.Schema.ID == schema.GroupSchema {
			stored = sampleGroup(t)
		}
		_, err = patch.Apply(rt, stored, ops)
		return err
	}
	_, err := rt.Normalize(decode(t, r.Body).(map[string]any))
	return err
}
