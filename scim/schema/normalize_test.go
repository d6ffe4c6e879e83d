package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// decode parses a body the way the HTTP layer does: numbers as json.Number.
func decode(tb testing.TB, s string) map[string]any {
	tb.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func readFixture(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, string(b))
}

// RFC 7643 §8.2's full User passes unchanged, except that the readOnly attributes id, meta
// and groups are dropped (RFC 7644 §3.3: readOnly attributes in requests "SHALL be ignored").
func TestNormalizeRFCFullUser(t *testing.T) {
	in := readFixture(t, "rfc7643-8.2-full-user.json")
	orig := readFixture(t, "rfc7643-8.2-full-user.json")
	got, err := schema.User().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := readFixture(t, "rfc7643-8.2-full-user.json")
	delete(want, "id")
	delete(want, "meta")
	delete(want, "groups")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Normalize changed the RFC example (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, in); diff != "" {
		t.Fatalf("Normalize modified its input (-orig +now):\n%s", diff)
	}
}

func TestNormalizeCanonicalisesNames(t *testing.T) {
	in := decode(t, `{
		"SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER", "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User"],
		"USERNAME": "alice",
		"Name": {"GIVENNAME": "Alice"},
		"emails": [{"VALUE": "a@example.com", "Primary": true, "type": "work"}],
		"externalid": "x1",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "42", "MANAGER": {"VALUE": "m1"}}
	}`)
	got, err := schema.User().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName": "alice",
		"name": {"givenName": "Alice"},
		"emails": [{"value": "a@example.com", "primary": true, "type": "work"}],
		"externalId": "x1",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "42", "manager": {"value": "m1"}}
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// Core attributes under the core schema's URN (URN-qualified names, RFC 7644 §3.10) mean the
// same as at the top level; an attribute given both ways is refused.
func TestNormalizeCoreURNObject(t *testing.T) {
	in := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"urn:ietf:params:scim:schemas:core:2.0:User": {"userName": "alt2", "emails": [{"value": "b@example.com"}]},
		"displayName": "Alt Two"
	}`)
	got, err := schema.User().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName": "alt2",
		"emails": [{"value": "b@example.com"}],
		"displayName": "Alt Two"
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, body := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:core:2.0:User":{"USERNAME":"b"}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"urn:ietf:params:scim:schemas:core:2.0:User":"a"}`,
	} {
		_, err := schema.User().Normalize(decode(t, body))
		if scimtrail.ErrorScimType(err) != scimtrail.ScimInvalidSyntax {
			t.Errorf("Normalize(%s) = %v, want invalidSyntax", body, err)
		}
	}
}

// Unassigned values (RFC 7643 §2.5: null and [] are equivalent to absent) are dropped, and
// so are readOnly attributes at any depth.
func TestNormalizeDropsNullAndReadOnly(t *testing.T) {
	in := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"id": "client-chosen", "meta": {"version": "W/\"1\""},
		"userName": "alice", "displayName": null, "emails": [], "phoneNumbers": [null],
		"name": {"givenName": null}, "ims": [{"value": null}],
		"groups": [{"value": "g1"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1", "displayName": "Boss"}}
	}`)
	got, err := schema.User().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"userName": "alice",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}}
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestNormalizeGroup(t *testing.T) {
	// RFC 7643 §8.4, with a member type spelled in another case and members.display,
	// which is readOnly.
	in := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
		"displayName": "Tour Guides",
		"members": [
			{"value": "2819c223-7f76-453a-919d-413861904646", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
			{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "user", "display": "Mandy Pepperidge"}
		]
	}`)
	got, err := schema.Group().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"displayName": "Tour Guides",
		"members": [
			{"value": "2819c223-7f76-453a-919d-413861904646", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
			{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User"}
		]
	}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// Other canonical values are not enforced: IdPs send their own email types.
func TestNormalizeAcceptsNonCanonicalEmailType(t *testing.T) {
	in := decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"value":"a@x","type":"Work Email"}]}`)
	got, err := schema.User().Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if v := got["emails"].([]any)[0].(map[string]any)["type"]; v != "Work Email" {
		t.Fatalf("emails[0].type = %v", v)
	}
}

func TestNormalizeErrors(t *testing.T) {
	const (
		user  = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"`
		both  = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"alice"`
		group = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"`
		ent   = `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	)
	tests := []struct {
		name     string
		group    bool
		body     string
		scimType string
		message  string // a substring of the message
	}{
		// Types (RFC 7643 §2.3).
		{"StringGotNumber", false, `{` + user + `,"displayName":5}`, scimtrail.ScimInvalidValue, `attribute "displayName" must be a string, got 5`},
		{"BooleanGotString", false, `{` + user + `,"emails":[{"value":"a@x","primary":"yes"}]}`, scimtrail.ScimInvalidValue, `attribute "emails[0].primary" must be a boolean, got "yes"`},
		{"ActiveGotString", false, `{` + user + `,"active":"true"}`, scimtrail.ScimInvalidValue, `attribute "active" must be a boolean, got "true"`},
		{"ComplexGotString", false, `{` + user + `,"name":"Alice"}`, scimtrail.ScimInvalidValue, `attribute "name" must be an object, got "Alice"`},
		{"ReferenceGotBool", false, `{` + user + `,"profileUrl":true}`, scimtrail.ScimInvalidValue, `attribute "profileUrl" must be a string, got true`},
		{"BinaryNotBase64", false, `{` + user + `,"x509Certificates":[{"value":"not base64!"}]}`, scimtrail.ScimInvalidValue, `attribute "x509Certificates[0].value" must be base64-encoded binary`},
		{"BinaryGotObject", false, `{` + user + `,"x509Certificates":[{"value":{}}]}`, scimtrail.ScimInvalidValue, `must be a base64 string, got an object`},
		{"SingleGotArray", false, `{` + user + `,"title":["a","b"]}`, scimtrail.ScimInvalidValue, `attribute "title" is single-valued, got an array`},
		{"MultiGotSingle", false, `{` + user + `,"emails":{"value":"a@x"}}`, scimtrail.ScimInvalidValue, `attribute "emails" is multi-valued and must be an array, got an object`},
		{"ExtensionStringGotBool", false, `{` + both + `,` + ent + `:{"department":false}}`, scimtrail.ScimInvalidValue, `attribute "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" must be a string, got false`},
		{"ExtensionNotObject", false, `{` + both + `,` + ent + `:"x"}`, scimtrail.ScimInvalidValue, `must be an object, got "x"`},
		// Unknown attributes (RFC 7644 §3.12 invalidSyntax: "did not conform to the request schema").
		{"UnknownAttribute", false, `{` + user + `,"shoeSize":"42"}`, scimtrail.ScimInvalidSyntax, `attribute "shoeSize" is not defined`},
		{"UnknownSubAttribute", false, `{` + user + `,"name":{"nickname":"x"}}`, scimtrail.ScimInvalidSyntax, `attribute "name.nickname" is not defined`},
		{"UnknownExtensionAttribute", false, `{` + both + `,` + ent + `:{"badge":"1"}}`, scimtrail.ScimInvalidSyntax, `enterprise:2.0:User:badge" is not defined`},
		{"GroupHasNoUserName", true, `{` + group + `,"userName":"x"}`, scimtrail.ScimInvalidSyntax, `attribute "userName" is not defined`},
		{"SchemasTwice", false, `{` + user + `,"Schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, scimtrail.ScimInvalidSyntax, `"schemas" is given twice`},
		{"DuplicateByCase", false, `{` + user + `,"USERNAME":"bob"}`, scimtrail.ScimInvalidSyntax, `is given twice`},
		// Required (RFC 7643 §4.1.1 userName "REQUIRED"; §4.2 displayName "REQUIRED").
		{"MissingUserName", false, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, scimtrail.ScimInvalidValue, `attribute "userName" is required`},
		{"NullUserName", false, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":null}`, scimtrail.ScimInvalidValue, `attribute "userName" is required`},
		{"EmptyUserName", false, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":""}`, scimtrail.ScimInvalidValue, `attribute "userName" is required`},
		{"MissingDisplayName", true, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}`, scimtrail.ScimInvalidValue, `attribute "displayName" is required`},
		// schemas (RFC 7643 §3).
		{"SchemasMissing", false, `{"userName":"alice"}`, scimtrail.ScimInvalidValue, `attribute "schemas" is required`},
		{"SchemasNotArray", false, `{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","userName":"alice"}`, scimtrail.ScimInvalidValue, `must be an array`},
		{"SchemasNotString", false, `{"schemas":[1],"userName":"alice"}`, scimtrail.ScimInvalidValue, `"schemas[0]" must be a string, got 1`},
		{"SchemasWithoutCore", false, `{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"alice"}`, scimtrail.ScimInvalidValue, `must contain "urn:ietf:params:scim:schemas:core:2.0:User"`},
		{"SchemasWrongCore", true, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"g"}`, scimtrail.ScimInvalidValue, `not a schema of resource type Group`},
		{"SchemasUnknownExtension", false, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:custom"],"userName":"alice"}`, scimtrail.ScimInvalidValue, `schema "urn:example:custom" is not a schema of resource type User`},
		{"ExtensionNotInSchemas", false, `{` + user + `,` + ent + `:{"department":"x"}}`, scimtrail.ScimInvalidValue, `is an extension not listed in "schemas"`},
		// RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once."
		{"TwoPrimaries", false, `{` + user + `,"emails":[{"value":"a@x","primary":true},{"value":"b@x","primary":false},{"value":"c@x","primary":true}]}`, scimtrail.ScimInvalidValue, `attribute "emails" has more than one primary value (emails[0] and emails[2])`},
		// RFC 7643 §4.2: members.type is "User" or "Group".
		{"MemberTypeNotCanonical", true, `{` + group + `,"members":[{"value":"x","type":"Robot"}]}`, scimtrail.ScimInvalidValue, `attribute "members[0].type" must be one of User, Group, got "Robot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := schema.User()
			if tt.group {
				rt = schema.Group()
			}
			got, err := rt.Normalize(decode(t, tt.body))
			var e *scimtrail.Error
			if !errors.As(err, &e) {
				t.Fatalf("Normalize = %v, %v; want *scimtrail.Error", got, err)
			}
			if e.Code != scimtrail.EINVALID || e.ScimType != tt.scimType || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("error = {%s %s %q}; want {%s %s …%q…}", e.Code, e.ScimType, e.Message, scimtrail.EINVALID, tt.scimType, tt.message)
			}
		})
	}
	if _, err := schema.User().Normalize(nil); scimtrail.ErrorScimType(err) != scimtrail.ScimInvalidSyntax {
		t.Fatalf("Normalize(nil) = %v; want invalidSyntax", err)
	}
}

// Numbers arrive as json.Number; integers must have no fraction (RFC 7643 §2.3.4). The core
// schemas have no numeric attributes, so a custom extension exercises them.
func TestNormalizeNumbers(t *testing.T) {
	const urn = "urn:example:params:scim:schemas:extension:badge:2.0:User"
	rt := schema.User()
	rt.Extensions = append(rt.Extensions, schema.Extension{Required: true, Schema: &schema.Schema{
		ID: urn, Name: "Badge",
		Attributes: []schema.Attribute{
			{Name: "floor", Type: "integer", Mutability: schema.ReadWrite},
			{Name: "ratio", Type: "decimal", Mutability: schema.ReadWrite},
			{Name: "issued", Type: "dateTime", Mutability: schema.ReadWrite},
			{Name: "rooms", Type: "integer", MultiValued: true, Mutability: schema.ReadWrite},
		},
	}})
	body := func(ext string) map[string]any {
		return decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+urn+`"],"userName":"a","`+urn+`":`+ext+`}`)
	}
	got, err := rt.Normalize(body(`{"floor": 12, "ratio": 0.5, "issued": "2008-01-23T04:56:22Z", "rooms": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	ext := got[urn].(map[string]any)
	if ext["floor"] != json.Number("12") || ext["ratio"] != json.Number("0.5") || len(ext["rooms"].([]any)) != 2 {
		t.Fatalf("extension = %v", ext)
	}
	// Callers that decoded without UseNumber get the same checks.
	if _, err := rt.Normalize(map[string]any{"schemas": []any{schema.UserSchema, urn}, "userName": "a", urn: map[string]any{"floor": 3.0, "ratio": 1.5}}); err != nil {
		t.Fatalf("float64 values: %v", err)
	}
	for _, tt := range []struct{ ext, message string }{
		{`{"floor": 1.5}`, `attribute "` + urn + `:floor" must be an integer, got 1.5`},
		{`{"floor": 99999999999999999999}`, `must be an integer, got 99999999999999999999`},
		{`{"floor": "3"}`, `must be an integer, got "3"`},
		{`{"ratio": "0.5"}`, `must be a decimal number, got "0.5"`},
		{`{"ratio": 1e999}`, `must be a decimal number`},
		{`{"issued": "23/01/2008"}`, `must be a dateTime (RFC 3339`},
		{`{"issued": 2008}`, `must be a dateTime string, got 2008`},
		{`{"rooms": [1, 2.5]}`, `attribute "` + urn + `:rooms[1]" must be an integer`},
		{`{}`, `extension "` + urn + `" is required`},
	} {
		_, err := rt.Normalize(body(tt.ext))
		if scimtrail.ErrorScimType(err) != scimtrail.ScimInvalidValue || !strings.Contains(scimtrail.ErrorMessage(err), tt.message) {
			t.Errorf("%s: err = %v; want invalidValue …%q…", tt.ext, err, tt.message)
		}
	}
	if _, err := rt.Normalize(decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)); !strings.Contains(scimtrail.ErrorMessage(err), "is required") {
		t.Errorf("absent required extension: err = %v", err)
	}
	if _, err := rt.Normalize(map[string]any{"schemas": []any{schema.UserSchema, urn}, "userName": "a", urn: map[string]any{"floor": 2.5}}); err == nil {
		t.Error("float64 2.5 accepted as an integer")
	}
}

// The same body gives the same error, whatever the map order.
func TestNormalizeErrorIsDeterministic(t *testing.T) {
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","aaa":1,"zzz":2,"title":5}`
	var first string
	for i := range 20 {
		_, err := schema.User().Normalize(decode(t, body))
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("error %d = %v; first was %v", i, err, first)
		}
	}
	// The output is plain JSON again.
	got, err := schema.User().Normalize(decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if !bytes.Equal(b, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)) {
		t.Fatalf("marshalled = %s", b)
	}
}
