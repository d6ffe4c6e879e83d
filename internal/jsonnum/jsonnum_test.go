package jsonnum_test

import (
	"encoding/json"
	"testing"

	"github.com/scimtrail/scimtrail/internal/jsonnum"
)

func TestEnd(t *testing.T) {
	for _, tt := range []struct {
		in  string
		end int
		ok  bool
	}{
		{"0", 1, true}, {"-0", 2, true}, {"12,", 2, true}, {"1.5e+10]", 7, true}, {"-0.0E-3", 7, true},
		{"01", 1, true}, // the number is "0"; the "1" after it is the caller's to refuse
		{"", 0, false}, {"-", 1, false}, {"1.", 2, false}, {"1e", 2, false}, {"1e+", 3, false}, {".5", 0, false}, {"+1", 0, false},
	} {
		end, ok := jsonnum.End([]byte(tt.in), 0)
		if ok != tt.ok || (ok && end != tt.end) {
			t.Errorf("End(%q) = %d, %v; want %d, %v", tt.in, end, ok, tt.end, tt.ok)
		}
	}
}

// FuzzEnd checks End against encoding/json: a whole input is a number exactly when
// json.Valid accepts it and it starts and ends like one (no whitespace around it).
func FuzzEnd(f *testing.F) {
	for _, s := range []string{"0", "-1.5e3", "01", "1.", "--1", "1e+"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := jsonnum.End(b, 0)
		whole := ok && end == len(b)
		want := len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') &&
			b[len(b)-1] >= '0' && b[len(b)-1] <= '9' && json.Valid(b)
		if whole != want {
			t.Fatalf("End(%q) = %d, %v; json.Valid says %v", b, end, ok, want)
		}
	})
}
