package sqlite

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestStringList checks that stringList decodes exactly what encoding/json decodes, for
// lists jsonList writes (any strings: quotes, backslashes, HTML, control characters,
// invalid UTF-8) and for other layouts of the same JSON.
func TestStringList(t *testing.T) {
	same := func(t interface {
		Helper()
		Fatalf(string, ...any)
	}, s string) {
		t.Helper()
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want)
		got, err := stringList(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("stringList(%q): error %v, encoding/json's %v", s, err, wantErr)
		}
		if err == nil && (cmp.Diff(want, got) != "" || (want == nil) != (got == nil)) {
			t.Fatalf("stringList(%q) = %#v, encoding/json decodes %#v", s, got, want)
		}
	}
	for _, s := range []string{
		`[]`, `[""]`, `["",""]`, `["a"]`, `["a","b"]`, `["alice@example.com","a@b.c"]`,
		`["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`,
		`[ "a" , "b" ]`, `["a\"b"]`, `["a\\b"]`, `["a\",\"b"]`, `["\u00e9"]`, `["é","ü"]`, `["\ufffd"]`, "[\"\xff\"]",
		"[\"a\tb\"]", `["a","b"`, `["a"],"b"]`, `["a",1]`, `[1]`, `null`, `["a"] `, `"a"`, `[`, ``,
	} {
		same(t, s)
	}
	rapid.Check(t, func(t *rapid.T) {
		ss := rapid.SliceOf(rapid.String()).Draw(t, "strings")
		same(t, jsonList(ss))
	})
}

// BenchmarkStringList decodes a user's schemas and emails as a resource read does.
func BenchmarkStringList(b *testing.B) {
	lists := []string{`["urn:ietf:params:scim:schemas:core:2.0:User"]`, `["u0000042@example.com"]`}
	b.Run("stringList", func(b *testing.B) {
		for b.Loop() {
			for _, s := range lists {
				if _, err := stringList(s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			for _, s := range lists {
				if _, err := decodeStringList(s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
