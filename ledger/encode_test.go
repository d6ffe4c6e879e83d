package ledger_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"pgregory.net/rapid"
)

// Encode's fast path must give exactly the bytes of the general JSON-then-JCS path, or
// entries written by one would not verify against leaf hashes computed by the other.
func TestEncodeFastMatchesGeneral(t *testing.T) {
	text := rapid.OneOf(
		rapid.String(),
		rapid.SampledFrom([]string{"", "\"", "\\", "\x00", "\x1f", "\x7f", "\u2028", "<&>", "\b\f\n\r\t", "é", "😀", "\ufeff"}),
		rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }), // invalid UTF-8 too
	)
	var value *rapid.Generator[any]
	leaf := rapid.OneOf(
		rapid.Map(text, func(s string) any { return s }),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Just[any](nil),
		rapid.Map(rapid.Int(), func(n int) any { return n }),
		rapid.Map(rapid.Float64(), func(f float64) any { return f }),
		rapid.Map(rapid.SampledFrom([]string{"0", "-1", "42", "9007199254740993", "1.5", "1e3", "-0"}), func(s string) any { return json.Number(s) }),
		rapid.Map(rapid.SliceOfN(text, 0, 3), func(v []string) any { return v }),
		rapid.Just[any]([]string(nil)),
		rapid.Custom(func(t *rapid.T) any { // what access.* entries hold
			p := scimtrail.AccessPath{Kind: text.Draw(t, "kind"), Grant: text.Draw(t, "grant"), By: text.Draw(t, "by")}
			if rapid.Bool().Draw(t, "hasVia") {
				p.Via = rapid.SliceOfN(text, 0, 3).Draw(t, "via")
			}
			return p
		}),
	)
	value = rapid.Deferred(func() *rapid.Generator[any] {
		return rapid.OneOf(leaf, leaf, leaf,
			rapid.Map(rapid.SliceOfN(value, 0, 3), func(v []any) any { return v }),
			rapid.Map(rapid.MapOfN(rapid.OneOf(rapid.StringMatching(`[a-z$A-Z_]{0,6}`), text), value, 0, 3), func(m map[string]any) any { return m }),
		)
	})
	rapid.Check(t, func(t *rapid.T) {
		e := scimtrail.Entry{
			V: 1, Tenant: text.Draw(t, "tenant"), Seq: rapid.Int64().Draw(t, "seq"),
			Time:   time.Unix(rapid.Int64Range(0, 1<<40).Draw(t, "time"), rapid.Int64Range(0, 1e9).Draw(t, "ns")),
			Action: text.Draw(t, "action"), Channel: text.Draw(t, "channel"), Reason: text.Draw(t, "reason"),
			Cause: rapid.Int64().Draw(t, "cause"),
			Actor: scimtrail.Actor{Type: text.Draw(t, "type"), ID: text.Draw(t, "id"), TokenID: text.Draw(t, "token"),
				OnBehalfOf: text.Draw(t, "obo"), IP: text.Draw(t, "ip"), UserAgent: text.Draw(t, "ua"), RequestID: text.Draw(t, "req")},
		}
		if rapid.Bool().Draw(t, "hasTarget") {
			e.Target = &scimtrail.Target{Type: text.Draw(t, "ttype"), ID: text.Draw(t, "tid"), Display: text.Draw(t, "tdisplay")}
		}
		for range rapid.IntRange(0, 3).Draw(t, "changes") {
			e.Changes = append(e.Changes, scimtrail.Change{Path: text.Draw(t, "path"), Old: value.Draw(t, "old"), New: value.Draw(t, "new")})
		}
		fast, ferr := ledger.Encode(e)
		general, gerr := ledger.EncodeGeneral(e)
		if (ferr != nil) != (gerr != nil) || !bytes.Equal(fast, general) {
			t.Fatalf("Encode:\n  %s (%v)\ngeneral path:\n  %s (%v)", fast, ferr, general, gerr)
		}
	})
}
