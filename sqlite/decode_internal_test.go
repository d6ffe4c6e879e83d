package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzDecodeStrings checks decodeStrings against json.Unmarshal: the same strings, the
// same empty-but-not-nil slice for [], and an error exactly when json.Unmarshal fails.
func FuzzDecodeStrings(f *testing.F) {
	for _, s := range []string{`[]`, `["urn:ietf:params:scim:schemas:core:2.0:User"]`, `["a@example.com","b@example.com"]`,
		`[""]`, `["",""]`, `["a" ,"b"]`, `["a\"b"]`, `["\u00e9"]`, `["a",]`, `["a",,"b"]`, `["a"x"b"]`, `[1]`, `["a"`,
		`null`, `["\u003c"]`, "[\"a\tb\"]", "[\"\xff\"]", `[ ]`, `[""""]`, `["a","b""]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want)
		got, err := decodeStrings(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeStrings(%q) error %v, json.Unmarshal error %v", s, err, wantErr)
		}
		if err == nil && (!slices.Equal(got, want) || (got == nil) != (want == nil)) {
			t.Fatalf("decodeStrings(%q) = %#v, json.Unmarshal gives %#v", s, got, want)
		}
	})
}
