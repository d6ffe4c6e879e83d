package gcpolicy_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/scimtrail/scimtrail/internal/gcpolicy"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	env := map[string]string{"GOGC": "50"}
	if gcpolicy.Apply(func(k string) string { return env[k] }) {
		t.Fatal("Apply overrode GOGC set by the operator")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC = %d after a refused Apply, want it untouched (100)", got)
	}
	env = map[string]string{"GOMEMLIMIT": "1GiB"}
	if gcpolicy.Apply(func(k string) string { return env[k] }) {
		t.Fatal("Apply overrode GOMEMLIMIT set by the operator")
	}

	if !gcpolicy.Apply(func(string) string { return "" }) {
		t.Fatal("Apply did nothing with neither variable set")
	}
	if got := debug.SetGCPercent(100); got != gcpolicy.Percent {
		t.Errorf("GOGC = %d, want %d", got, gcpolicy.Percent)
	}
	if got := debug.SetMemoryLimit(-1); got != gcpolicy.Limit {
		t.Errorf("memory limit = %d, want %d", got, gcpolicy.Limit)
	}
}
