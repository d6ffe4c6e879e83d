package filter_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scimtrail/scimtrail/scim/filter"
)

// FuzzParse checks that Parse never panics, and that for every input it accepts the
// canonical form parses back to the same AST and prints identically (String is stable).
// Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(`userName eq "alice@example.com"`)
	f.Fuzz(func(t *testing.T, in string) {
		e, err := filter.Parse(in)
		if err != nil {
			if _, ok := err.(*filter.Error); !ok {
				t.Fatalf("Parse(%q) error %T, want *filter.Error", in, err)
			}
			return
		}
		out := filter.String(e)
		// The canonical form can be a few bytes longer than a terse input ("not(" prints
		// as "not ("), so it may exceed MaxLength; nothing else may fail to reparse.
		if len(out) > filter.MaxLength {
			return
		}
		e2, err := filter.Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String(e) = %q): %v", in, out, err)
		}
		if diff := cmp.Diff(e, e2); diff != "" {
			t.Fatalf("Parse(String(Parse(%q))) differs (-first +second):\n%s", in, diff)
		}
		if out2 := filter.String(e2); out2 != out {
			t.Fatalf("String not stable for %q:\n%s\n%s", in, out, out2)
		}
		// Validate, Attributes and Match must not panic on anything Parse returns.
		_ = filter.Validate(e, nil)
		_ = filter.Attributes(e)
		_ = filter.Match(e, map[string]any{"userName": "alice", "emails": []any{map[string]any{"value": "a@x"}}}, nil)
	})
}
