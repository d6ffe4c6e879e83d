package patch_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// decode decodes JSON as the store does: numbers as json.Number.
func decode(tb testing.TB, s string) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// loadDoc reads a stored-form resource from testdata. user-8.2.json is the RFC 7643 §8.2
// full User (without id, meta and groups); group-8.4.json the §8.4 Group without members.
func loadDoc(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return decode(tb, string(b)).(map[string]any)
}

// request wraps operations (a JSON array's content) into a PATCH body and parses it.
func request(tb testing.TB, ops string) []patch.Operation {
	tb.Helper()
	parsed, err := patch.ParseRequest([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`))
	if err != nil {
		tb.Fatalf("ParseRequest: %v", err)
	}
	return parsed
}

func mustApply(tb testing.TB, rt *schema.ResourceType, doc map[string]any, ops string) patch.Result {
	tb.Helper()
	res, err := patch.Apply(rt, doc, request(tb, ops))
	if err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	return res
}

// wantDoc compares res.Doc with want, a JSON text, and checks the result is what
// schema.Normalize would store.
func wantDoc(tb testing.TB, rt *schema.ResourceType, got map[string]any, want string) {
	tb.Helper()
	if diff := cmp.Diff(decode(tb, want), any(got)); diff != "" {
		tb.Fatalf("doc (-want +got):\n%s", diff)
	}
	normal(tb, rt, got)
}

func normal(tb testing.TB, rt *schema.ResourceType, doc map[string]any) {
	tb.Helper()
	n, err := rt.Normalize(doc)
	if err != nil {
		tb.Fatalf("result does not pass Normalize: %v", err)
	}
	// Normalize drops read-only attributes such as manager.displayName; compare the rest.
	if m, ok := sub(doc, enterprise, "manager").(map[string]any); ok {
		if _, ok := m["displayName"]; ok {
			return
		}
	}
	if diff := cmp.Diff(n, doc); diff != "" {
		tb.Fatalf("result is not in normal form (-normalized +got):\n%s", diff)
	}
}

// sub returns doc[keys[0]][keys[1]]…, indexing arrays by int.
func sub(doc any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := doc.(map[string]any)
			doc = m[k]
		case int:
			a, _ := doc.([]any)
			if k >= len(a) {
				return nil
			}
			doc = a[k]
		}
	}
	return doc
}

func TestApplyRFC7644Examples(t *testing.T) {
	user := schema.User()

	t.Run("3.5.2.1/AddWithoutPath", func(t *testing.T) {
		// RFC 7644 §3.5.2.1, the example that adds an email and a nickname without a path
		// ("nickname" as the RFC spells it; names are case-insensitive).
		doc := loadDoc(t, "user-8.2.json")
		delete(doc, "nickName")
		res := mustApply(t, user, doc, `{"op":"add","value":{
			"emails":[{"value":"babs@jensen.org","type":"home"}, {"value":"babs@example.org","type":"other"}],
			"nickname":"Babs"}}`)
		if got := sub(res.Doc, "nickName"); got != "Babs" {
			t.Fatalf("nickName = %v, want Babs", got)
		}
		// babs@jensen.org is already there: "If the target location already contains the
		// value specified, no changes SHOULD be made to the resource".
		emails := sub(res.Doc, "emails").([]any)
		if got, want := len(emails), 3; got != want {
			t.Fatalf("%d emails, want %d: %v", got, want, emails)
		}
		if got := sub(emails, 2, "value"); got != "babs@example.org" {
			t.Fatalf("appended email = %v", got)
		}
		if !res.Changed {
			t.Fatal("Changed = false")
		}
		normal(t, user, res.Doc)
	})
	t.Run("3.5.2.1/AddDuplicateIsNoChange", func(t *testing.T) {
		doc := loadDoc(t, "user-8.2.json")
		res := mustApply(t, user, doc, `{"op":"add","path":"emails","value":[{"value":"BABS@jensen.org","type":"home"}]}`)
		if res.Changed {
			t.Fatalf("adding an email already present changed the doc: %v", res.Doc["emails"])
		}
	})
	t.Run("3.5.2.1/AddSingleValue", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"add","path":"title","value":"Chief Guide"}`)
		if got := sub(res.Doc, "title"); got != "Chief Guide" {
			t.Fatalf("title = %v", got)
		}
	})
	t.Run("3.5.2.1/AddComplexMerges", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"add","path":"name","value":{"GivenName":"Babs","middleName":null}}`)
		want := decode(t, `{"formatted":"Ms. Barbara J Jensen, III","familyName":"Jensen","givenName":"Babs","honorificPrefix":"Ms.","honorificSuffix":"III"}`)
		if diff := cmp.Diff(want, sub(res.Doc, "name")); diff != "" {
			t.Fatalf("name (-want +got):\n%s", diff)
		}
	})
	t.Run("3.5.2.2/RemoveByFilter", func(t *testing.T) {
		// RFC 7644 §3.5.2.2: path "emails[type eq \"work\" and value ew \"example.com\"]".
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`)
		want := decode(t, `[{"value":"babs@jensen.org","type":"home"}]`)
		if diff := cmp.Diff(want, sub(res.Doc, "emails")); diff != "" {
			t.Fatalf("emails (-want +got):\n%s", diff)
		}
	})
	t.Run("3.5.2.2/RemoveLastValueUnassigns", func(t *testing.T) {
		// "If no other values remain after removal of the selected values, the
		// multi-valued attribute SHALL be considered unassigned."
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"ims[type eq \"aim\"]"}`)
		if _, ok := res.Doc["ims"]; ok {
			t.Fatalf("ims = %v, want unassigned", res.Doc["ims"])
		}
	})
	t.Run("3.5.2.2/RemoveSingleValue", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"title"},{"op":"remove","path":"name.middleName"}`)
		if _, ok := res.Doc["title"]; ok {
			t.Fatal("title still present")
		}
		if _, ok := sub(res.Doc, "name").(map[string]any)["middleName"]; ok {
			t.Fatal("name.middleName still present")
		}
		if got := sub(res.Doc, "name", "givenName"); got != "Barbara" {
			t.Fatalf("name.givenName = %v, want it untouched", got)
		}
	})
	t.Run("3.5.2.2/RemoveWholeMultiValued", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"phoneNumbers"}`)
		if _, ok := res.Doc["phoneNumbers"]; ok {
			t.Fatal("phoneNumbers still present")
		}
	})
	t.Run("3.5.2.3/ReplaceWorkAddress", func(t *testing.T) {
		// RFC 7644 §3.5.2.3: replace addresses[type eq "work"] with a whole new address.
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"addresses[type eq \"work\"]","value":{
			"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA",
			"postalCode":"91608","country":"US","formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}}`)
		want := decode(t, `{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA",
			"postalCode":"91608","country":"US","formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}`)
		if diff := cmp.Diff(want, sub(res.Doc, "addresses", 0)); diff != "" {
			t.Fatalf("work address (-want +got):\n%s", diff)
		}
		if got := sub(res.Doc, "addresses", 1, "type"); got != "home" {
			t.Fatalf("home address lost: %v", res.Doc["addresses"])
		}
		normal(t, user, res.Doc)
	})
	t.Run("3.5.2.3/ReplaceSubAttributeOfMatches", func(t *testing.T) {
		// RFC 7644 §3.5.2.3: path addresses[type eq "work"].streetAddress.
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}`)
		if got := sub(res.Doc, "addresses", 0, "streetAddress"); got != "1010 Broadway Ave" {
			t.Fatalf("streetAddress = %v", got)
		}
		if got := sub(res.Doc, "addresses", 0, "locality"); got != "Hollywood" {
			t.Fatalf("locality = %v, want untouched", got)
		}
		if got := sub(res.Doc, "addresses", 1, "streetAddress"); got != "456 Hollywood Blvd" {
			t.Fatalf("home streetAddress = %v, want untouched", got)
		}
	})
	t.Run("3.5.2.3/ReplaceWithoutPath", func(t *testing.T) {
		// RFC 7644 §3.5.2.3, the path-less example replacing emails and nickname.
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","value":{
			"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
			"nickname":"Babsy"}}`)
		if got := sub(res.Doc, "nickName"); got != "Babsy" {
			t.Fatalf("nickName = %v", got)
		}
		want := decode(t, `[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]`)
		if diff := cmp.Diff(want, sub(res.Doc, "emails")); diff != "" {
			t.Fatalf("emails (-want +got):\n%s", diff)
		}
	})
	t.Run("3.5.2.3/ReplaceMultiValuedReplacesAll", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"phoneNumbers","value":[{"value":"555-555-0000","type":"home"}]}`)
		want := decode(t, `[{"value":"555-555-0000","type":"home"}]`)
		if diff := cmp.Diff(want, sub(res.Doc, "phoneNumbers")); diff != "" {
			t.Fatalf("phoneNumbers (-want +got):\n%s", diff)
		}
	})
	t.Run("3.5.2.3/ReplaceComplexLeavesOthers", func(t *testing.T) {
		// "Sub-attributes that are not specified in the "value" parameter are left unchanged."
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"name","value":{"givenName":"Babs"}}`)
		want := decode(t, `{"formatted":"Ms. Barbara J Jensen, III","familyName":"Jensen","givenName":"Babs","middleName":"Jane","honorificPrefix":"Ms.","honorificSuffix":"III"}`)
		if diff := cmp.Diff(want, sub(res.Doc, "name")); diff != "" {
			t.Fatalf("name (-want +got):\n%s", diff)
		}
	})
	t.Run("3.5.2.3/ReplaceMissingIsAdd", func(t *testing.T) {
		// "If the target location path specifies an attribute that does not exist, the
		// service provider SHALL treat the operation as an "add"."
		doc := loadDoc(t, "user-8.2.json")
		delete(doc, "title")
		res := mustApply(t, user, doc, `{"op":"replace","path":"title","value":"Guide"}`)
		if got := sub(res.Doc, "title"); got != "Guide" {
			t.Fatalf("title = %v", got)
		}
	})
}

func TestApplyErrors(t *testing.T) {
	user := schema.User()
	for _, tc := range []struct {
		name, ops, scimType string
	}{
		// RFC 7644 §3.5.2.3: a value filter that matches nothing is "noTarget".
		{"ReplaceFilterNoMatch", `{"op":"replace","path":"emails[type eq \"other\"].value","value":"x@example.com"}`, scimtrail.ScimNoTarget},
		{"ReplaceElementNoMatch", `{"op":"replace","path":"addresses[type eq \"other\"]","value":{"type":"other"}}`, scimtrail.ScimNoTarget},
		// RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability
		// "readOnly" or "immutable"".
		{"ReadOnlyID", `{"op":"replace","path":"id","value":"x"}`, scimtrail.ScimMutability},
		{"ReadOnlyMeta", `{"op":"add","value":{"meta":{"version":"W/\"1\""}}}`, scimtrail.ScimMutability},
		{"ReadOnlyGroups", `{"op":"add","path":"groups","value":[{"value":"g1"}]}`, scimtrail.ScimMutability},
		{"ReadOnlySub", `{"op":"replace","path":"` + enterprise + `:manager.displayName","value":"Boss"}`, scimtrail.ScimMutability},
		{"RemoveRequired", `{"op":"remove","path":"userName"}`, scimtrail.ScimMutability},
		{"ReplaceRequiredWithNull", `{"op":"replace","path":"userName","value":null}`, scimtrail.ScimMutability},
		{"UnknownAttribute", `{"op":"add","path":"favouriteColour","value":"blue"}`, scimtrail.ScimInvalidPath},
		{"UnknownSubAttribute", `{"op":"add","path":"name.nick","value":"x"}`, scimtrail.ScimInvalidPath},
		{"UnknownInValue", `{"op":"add","value":{"favouriteColour":"blue"}}`, scimtrail.ScimInvalidPath},
		{"UnknownSubInValue", `{"op":"add","path":"emails","value":[{"value":"a@b.c","kind":"x"}]}`, scimtrail.ScimInvalidPath},
		{"UnknownSchema", `{"op":"add","path":"urn:acme:ext:1.0:level","value":"x"}`, scimtrail.ScimInvalidPath},
		{"FilterOnSingleValued", `{"op":"replace","path":"name[givenName eq \"x\"]","value":{}}`, scimtrail.ScimInvalidPath},
		{"FilterUnknownSub", `{"op":"replace","path":"emails[kind eq \"work\"].value","value":"x"}`, scimtrail.ScimInvalidPath},
		{"SubOfMultiValuedWithoutFilter", `{"op":"replace","path":"emails.value","value":"x@example.com"}`, scimtrail.ScimInvalidPath},
		// Entra's path-less replace with dotted keys is a dialect for later; today it must be
		// a clear error, not a silently dropped change.
		{"EntraDottedKeys", `{"op":"Replace","value":{"name.givenName":"Barbara","name.familyName":"Jensen"}}`, scimtrail.ScimInvalidPath},
		{"WrongType", `{"op":"replace","path":"active","value":"False"}`, scimtrail.ScimInvalidValue},
		{"WrongTypeInElement", `{"op":"add","path":"emails","value":[{"value":"a@b.c","primary":"yes"}]}`, scimtrail.ScimInvalidValue},
		{"BinaryNotBase64", `{"op":"add","path":"x509Certificates","value":[{"value":"not base64!"}]}`, scimtrail.ScimInvalidValue},
		{"PrimaryNotBoolean", `{"op":"add","path":"title","value":"x"},{"op":"add","path":"emails","value":[{"value":"a@b.c","primary":true,"type":"work"}]},{"op":"replace","path":"emails[value eq \"a@b.c\"].primary","value":1}`, scimtrail.ScimInvalidValue},
		{"ComplexNeedsObject", `{"op":"replace","path":"name","value":"Babs"}`, scimtrail.ScimInvalidValue},
		{"PathlessNeedsObject", `{"op":"add","value":"Babs"}`, scimtrail.ScimInvalidValue},
		{"ExtensionNeedsObject", `{"op":"add","value":{"` + enterprise + `":"x"}}`, scimtrail.ScimInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := loadDoc(t, "user-8.2.json")
			before := loadDoc(t, "user-8.2.json")
			_, err := patch.Apply(user, doc, request(t, tc.ops))
			wantError(t, err, tc.scimType)
			if diff := cmp.Diff(before, doc); diff != "" {
				t.Fatalf("Apply modified its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyRemoveWithoutPath(t *testing.T) {
	// RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status
	// code 400 and a "scimType" error code of "noTarget"." Apply checks it too, for
	// operations that did not come through ParseRequest.
	_, err := patch.Apply(schema.User(), loadDoc(t, "user-8.2.json"), []patch.Operation{{Op: "remove", Value: map[string]any{"title": "x"}}})
	wantError(t, err, scimtrail.ScimNoTarget)
}

func TestApplyAtomic(t *testing.T) {
	doc := loadDoc(t, "user-8.2.json")
	before := loadDoc(t, "user-8.2.json")
	ops := request(t, `{"op":"replace","path":"title","value":"Boss"},{"op":"add","path":"emails","value":[{"value":"new@example.com"}]},{"op":"replace","path":"id","value":"x"}`)
	res, err := patch.Apply(schema.User(), doc, ops)
	wantError(t, err, scimtrail.ScimMutability)
	if res.Doc != nil || res.Changed {
		t.Fatalf("failed Apply returned a result: %+v", res)
	}
	if diff := cmp.Diff(before, doc); diff != "" {
		t.Fatalf("input modified (-before +after):\n%s", diff)
	}
	// The error names the failing operation.
	if msg := scimtrail.ErrorMessage(err); !bytes.Contains([]byte(msg), []byte("Operations[2]")) {
		t.Fatalf("message %q does not name Operations[2]", msg)
	}
}

func TestApplyDoesNotAliasInput(t *testing.T) {
	doc := loadDoc(t, "user-8.2.json")
	ops := request(t, `{"op":"add","path":"name","value":{"givenName":"B"}},{"op":"add","path":"emails","value":[{"value":"x@example.com"}]}`)
	res, err := patch.Apply(schema.User(), doc, ops)
	if err != nil {
		t.Fatal(err)
	}
	// Writing into the result must reach neither the input doc nor the operations.
	sub(res.Doc, "name").(map[string]any)["givenName"] = "changed"
	sub(res.Doc, "emails", 2).(map[string]any)["value"] = "changed"
	if got := sub(doc, "name", "givenName"); got != "Barbara" {
		t.Fatalf("input name.givenName = %v", got)
	}
	if got := sub(ops[1].Value, 0, "value"); got != "x@example.com" {
		t.Fatalf("operation value = %v", got)
	}
}

func TestApplyPrimary(t *testing.T) {
	// RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than once."
	user := schema.User()
	res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"add","path":"emails","value":[{"value":"b@example.org","type":"other","primary":true}]}`)
	if got := sub(res.Doc, "emails", 0, "primary"); got != nil {
		t.Fatalf("old primary email keeps primary = %v", got)
	}
	if got := sub(res.Doc, "emails", 2, "primary"); got != true {
		t.Fatalf("new email primary = %v", got)
	}
	res = mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`)
	if got := sub(res.Doc, "emails", 0, "primary"); got != nil {
		t.Fatalf("work email keeps primary = %v", got)
	}
	if got := sub(res.Doc, "emails", 1, "primary"); got != true {
		t.Fatalf("home email primary = %v", got)
	}
	normal(t, user, res.Doc)
}

func TestApplyFilteredAddCreates(t *testing.T) {
	// Entra adds a typed value with "add" through a filter that matches nothing yet.
	user := schema.User()
	res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"Add","path":"phoneNumbers[type eq \"fax\"].value","value":"555-555-1111"}`)
	want := decode(t, `{"type":"fax","value":"555-555-1111"}`)
	if diff := cmp.Diff(want, sub(res.Doc, "phoneNumbers", 2)); diff != "" {
		t.Fatalf("new phone (-want +got):\n%s", diff)
	}
	// A filter that does not describe a value cannot create one.
	_, err := patch.Apply(user, loadDoc(t, "user-8.2.json"), request(t, `{"op":"add","path":"phoneNumbers[type ne \"fax\" and type ne \"work\" and type ne \"mobile\"].value","value":"1"}`))
	wantError(t, err, scimtrail.ScimNoTarget)
}

func TestApplyRemoveNoMatchIsNoOp(t *testing.T) {
	res := mustApply(t, schema.User(), loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"emails[type eq \"other\"]"}`)
	if res.Changed {
		t.Fatal("remove matching nothing changed the doc")
	}
}

func TestApplyExtension(t *testing.T) {
	user := schema.User()
	doc := loadDoc(t, "user-8.2.json")
	delete(doc, enterprise)
	doc["schemas"] = []any{schema.UserSchema}

	t.Run("AddAddsSchema", func(t *testing.T) {
		res := mustApply(t, user, doc, `{"op":"add","path":"`+enterprise+`:department","value":"Rides"}`)
		if got := sub(res.Doc, enterprise, "department"); got != "Rides" {
			t.Fatalf("department = %v", got)
		}
		if diff := cmp.Diff([]any{schema.UserSchema, enterprise}, res.Doc["schemas"]); diff != "" {
			t.Fatalf("schemas (-want +got):\n%s", diff)
		}
		normal(t, user, res.Doc)
	})
	t.Run("PathlessURNKeyedObject", func(t *testing.T) {
		res := mustApply(t, user, doc, `{"op":"add","value":{"`+enterprise+`":{"employeeNumber":"42","manager":{"value":"m1"}}}}`)
		if got := sub(res.Doc, enterprise, "manager", "value"); got != "m1" {
			t.Fatalf("manager.value = %v", got)
		}
		if got := sub(res.Doc, enterprise, "employeeNumber"); got != "42" {
			t.Fatalf("employeeNumber = %v", got)
		}
		normal(t, user, res.Doc)
	})
	t.Run("PathlessURNPrefixedKey", func(t *testing.T) {
		// Entra's path-less replace carries extension attributes as URN-prefixed keys.
		res := mustApply(t, user, doc, `{"op":"Replace","value":{"`+enterprise+`:employeeNumber":"7","active":false}}`)
		if got := sub(res.Doc, enterprise, "employeeNumber"); got != "7" {
			t.Fatalf("employeeNumber = %v", got)
		}
		if got := sub(res.Doc, "active"); got != false {
			t.Fatalf("active = %v", got)
		}
	})
	t.Run("ManagerValuePath", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"`+enterprise+`:manager.value","value":"m2"}`)
		if got := sub(res.Doc, enterprise, "manager", "value"); got != "m2" {
			t.Fatalf("manager.value = %v", got)
		}
	})
	t.Run("RemoveLastDropsSchema", func(t *testing.T) {
		res := mustApply(t, user, doc, `{"op":"add","path":"`+enterprise+`:department","value":"Rides"},{"op":"remove","path":"`+enterprise+`:department"}`)
		if _, ok := res.Doc[enterprise]; ok {
			t.Fatalf("empty extension kept: %v", res.Doc[enterprise])
		}
		if diff := cmp.Diff([]any{schema.UserSchema}, res.Doc["schemas"]); diff != "" {
			t.Fatalf("schemas (-want +got):\n%s", diff)
		}
		if res.Changed {
			t.Fatal("add then remove reported a change")
		}
	})
	t.Run("RemoveWholeExtension", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"remove","path":"`+enterprise+`"}`)
		if _, ok := res.Doc[enterprise]; ok {
			t.Fatal("extension kept")
		}
		if diff := cmp.Diff([]any{schema.UserSchema}, res.Doc["schemas"]); diff != "" {
			t.Fatalf("schemas (-want +got):\n%s", diff)
		}
	})
	t.Run("CoreURNPrefix", func(t *testing.T) {
		res := mustApply(t, user, loadDoc(t, "user-8.2.json"), `{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName","value":"Babs"}`)
		if got := sub(res.Doc, "name", "givenName"); got != "Babs" {
			t.Fatalf("name.givenName = %v", got)
		}
	})
}

func TestApplyGroupMembers(t *testing.T) {
	group := schema.Group()
	const (
		babs  = "2819c223-7f76-453a-919d-413861904646"
		mandy = "902c246b-6245-4190-8e05-00816be7344a"
	)
	for _, tc := range []struct {
		name string
		ops  string
		want []patch.MemberOp
	}{
		{
			// RFC 7644 §3.5.2.1: add a member.
			name: "3.5.2.1/Add",
			ops:  `{"op":"add","path":"members","value":[{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/` + babs + `","value":"` + babs + `"}]}`,
			want: []patch.MemberOp{{Kind: "add", Values: []string{babs}, Types: []string{""}}},
		},
		{
			// RFC 7644 §3.5.2.2: remove one member by value filter.
			name: "3.5.2.2/RemoveOne",
			ops:  `{"op":"remove","path":"members[value eq \"` + babs + `\"]"}`,
			want: []patch.MemberOp{{Kind: "remove", Values: []string{babs}, Types: []string{""}}},
		},
		{
			// RFC 7644 §3.5.2.2: remove all members.
			name: "3.5.2.2/RemoveAll",
			ops:  `{"op":"remove","path":"members"}`,
			want: []patch.MemberOp{{Kind: "remove_all"}},
		},
		{
			// RFC 7644 §3.5.2.2: remove two members with two operations.
			name: "3.5.2.2/RemoveTwo",
			ops:  `{"op":"remove","path":"members[value eq \"` + babs + `\"]"},{"op":"remove","path":"members[value eq \"` + mandy + `\"]"}`,
			want: []patch.MemberOp{
				{Kind: "remove", Values: []string{babs}, Types: []string{""}},
				{Kind: "remove", Values: []string{mandy}, Types: []string{""}},
			},
		},
		{
			// RFC 7644 §3.5.2.2: replace all members by removing all, then adding.
			name: "3.5.2.2/RemoveAllThenAdd",
			ops:  `{"op":"remove","path":"members"},{"op":"add","path":"members","value":[{"display":"Babs Jensen","value":"` + babs + `"},{"display":"Mandy Pepperidge","value":"` + mandy + `"}]}`,
			want: []patch.MemberOp{
				{Kind: "remove_all"},
				{Kind: "add", Values: []string{babs, mandy}, Types: []string{"", ""}},
			},
		},
		{
			// RFC 7644 §3.5.2.3: replace all members.
			name: "3.5.2.3/Replace",
			ops:  `{"op":"replace","path":"members","value":[{"display":"Babs Jensen","value":"` + babs + `"},{"display":"Mandy Pepperidge","value":"` + mandy + `","type":"user"}]}`,
			want: []patch.MemberOp{{Kind: "replace", Values: []string{babs, mandy}, Types: []string{"", "User"}}},
		},
		{
			name: "ReplaceEmptyRemovesAll",
			ops:  `{"op":"replace","path":"members","value":[]}`,
			want: []patch.MemberOp{{Kind: "remove_all"}},
		},
		{
			// Entra ID removes members with path "members" and a value listing them
			// (learn.microsoft.com SCIM tutorial, "Update Group [Remove Members]"). Only
			// those go; reading it as "remove all" would empty the group.
			name: "EntraRemoveListed",
			ops:  `{"op":"Remove","path":"members","value":[{"value":"` + mandy + `"}]}`,
			want: []patch.MemberOp{{Kind: "remove", Values: []string{mandy}, Types: []string{""}}},
		},
		{
			// A member given by its $ref alone (RFC 7643 §4.2: "the URI corresponding to a
			// SCIM resource that is a member of this Group"): the id is the URI's last segment.
			name: "AddByRefOnly",
			ops:  `{"op":"add","path":"members","value":[{"$ref":"https://example.com/v2/Users/` + babs + `"},{"$ref":"/scim/v2/acme/Groups/` + mandy + `/"}]}`,
			want: []patch.MemberOp{{Kind: "add", Values: []string{babs, mandy}, Types: []string{"User", "Group"}}},
		},
		{
			// Entra ID: "Update Group [Add Members]".
			name: "EntraAdd",
			ops:  `{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + babs + `"}]}`,
			want: []patch.MemberOp{{Kind: "add", Values: []string{babs}, Types: []string{""}}},
		},
		{
			// Okta's path-less replace of a group carries displayName and members together.
			name: "PathlessReplaceWithMembers",
			ops:  `{"op":"replace","value":{"id":"g1-ignored?","displayName":"Tour Guides","members":[{"value":"` + babs + `","type":"Group"}]}}`,
		},
		{
			name: "RemoveByOtherFilter",
			ops:  `{"op":"remove","path":"members[type eq \"Group\"]"}`,
		},
		{
			name: "RemoveValueEqOr",
			ops:  `{"op":"remove","path":"members[Value eq \"a\" or value eq \"b\"]"}`,
			want: []patch.MemberOp{{Kind: "remove", Values: []string{"a", "b"}, Types: []string{"", ""}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := loadDoc(t, "group-8.4.json")
			res, err := patch.Apply(group, doc, request(t, tc.ops))
			switch tc.name {
			case "PathlessReplaceWithMembers":
				// "id" is read-only: the whole request fails and no member op escapes.
				wantError(t, err, scimtrail.ScimMutability)
				return
			case "RemoveByOtherFilter":
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Members) != 1 || res.Members[0].Kind != "remove" || res.Members[0].Filter == nil || res.Members[0].Values != nil {
					t.Fatalf("members = %+v, want one remove with a Filter", res.Members)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Members); diff != "" {
				t.Fatalf("members (-want +got):\n%s", diff)
			}
			if _, ok := res.Doc["members"]; ok {
				t.Fatal("members leaked into the doc")
			}
			if res.Changed {
				t.Fatal("member-only request reported a doc change")
			}
		})
	}
	t.Run("PathlessReplaceDisplayNameAndMembers", func(t *testing.T) {
		res := mustApply(t, group, loadDoc(t, "group-8.4.json"), `{"op":"replace","value":{"displayName":"Guides","members":[{"value":"`+babs+`","type":"Group"}]}}`)
		wantDoc(t, group, res.Doc, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Guides"}`)
		want := []patch.MemberOp{{Kind: "replace", Values: []string{babs}, Types: []string{"Group"}}}
		if diff := cmp.Diff(want, res.Members); diff != "" {
			t.Fatalf("members (-want +got):\n%s", diff)
		}
	})
	t.Run("ElementSchemaMatchesMembers", func(t *testing.T) {
		res := mustApply(t, group, loadDoc(t, "group-8.4.json"), `{"op":"remove","path":"members[type eq \"group\"]"}`)
		attr, _ := group.Lookup("", "members", "")
		s := patch.ElementSchema(attr)
		if !filterMatch(res.Members[0], map[string]any{"value": "g2", "type": "Group"}, s) {
			t.Fatal("filter does not match a Group member")
		}
		if filterMatch(res.Members[0], map[string]any{"value": "u1", "type": "User"}, s) {
			t.Fatal("filter matches a User member")
		}
	})
	for _, tc := range []struct{ name, ops, scimType string }{
		{"EmptyValue", `{"op":"add","path":"members","value":[{"value":""}]}`, scimtrail.ScimInvalidValue},
		{"NonStringValue", `{"op":"add","path":"members","value":[{"value":7}]}`, scimtrail.ScimInvalidValue},
		{"MissingValue", `{"op":"add","path":"members","value":[{"display":"Babs"}]}`, scimtrail.ScimInvalidValue},
		{"NotAnObject", `{"op":"add","path":"members","value":["` + babs + `"]}`, scimtrail.ScimInvalidValue},
		{"BadType", `{"op":"add","path":"members","value":[{"value":"x","type":"Robot"}]}`, scimtrail.ScimInvalidValue},
		{"ReplaceByFilter", `{"op":"replace","path":"members[value eq \"x\"]","value":{"value":"y"}}`, scimtrail.ScimInvalidPath},
		{"SubAttribute", `{"op":"replace","path":"members[value eq \"x\"].display","value":"y"}`, scimtrail.ScimInvalidPath},
		{"AtomicWithDoc", `{"op":"add","path":"members","value":[{"value":"x"}]},{"op":"remove","path":"displayName"}`, scimtrail.ScimMutability},
	} {
		t.Run("Error/"+tc.name, func(t *testing.T) {
			_, err := patch.Apply(group, loadDoc(t, "group-8.4.json"), request(t, tc.ops))
			wantError(t, err, tc.scimType)
		})
	}
}

func filterMatch(op patch.MemberOp, member map[string]any, s filter.Schema) bool {
	return filter.Match(op.Filter, member, s)
}

// TestMemberFromRef: a $ref names a member only when its path ends in /Users/{id} or
// /Groups/{id} and agrees with the type the member claims.
func TestMemberFromRef(t *testing.T) {
	for _, tc := range []struct {
		ref, typ, id, wantType string
	}{
		{"https://x.test/scim/v2/t/Users/u1", "", "u1", "User"},
		{"https://x.test/scim/v2/t/Groups/g%201", "group", "g 1", "Group"},
		{"https://x.test/scim/v2/t/Users/u1", "Group", "", "Group"},
		{"https://x.test/elsewhere/u1", "", "", ""},
		{"https://x.test/Users/", "", "", ""},
		{"", "User", "", "User"},
	} {
		id, typ := patch.MemberFromRef(tc.ref, tc.typ)
		if id != tc.id || typ != tc.wantType {
			t.Errorf("MemberFromRef(%q, %q) = %q, %q; want %q, %q", tc.ref, tc.typ, id, typ, tc.id, tc.wantType)
		}
	}
}
