package listpos_test

import (
	"fmt"
	"testing"

	"github.com/scimtrail/scimtrail/internal/listpos"
)

// keysOf collects every step-th key of n keys k1…kn, as a backend's scan would.
func keysOf(n, step int) []listpos.Key {
	c := listpos.Collector{Step: step}
	for i := 1; i <= n; i++ {
		c.Add(listpos.Key{Created: int64(i), ID: fmt.Sprint(i)})
	}
	return c.Keys
}

func TestSeekFindsTheClosestKeyBefore(t *testing.T) {
	ix := listpos.New()
	ix.Store("acme", "User", 7, 100, keysOf(1000, 100))
	for _, tc := range []struct {
		start   int
		ok      bool
		created int64
		skip    int
	}{
		{1, false, 0, 0}, {100, false, 0, 0}, {101, true, 100, 0}, {102, true, 100, 1},
		{250, true, 200, 49}, {1000, true, 900, 99}, {1001, true, 1000, 0}, {5000, true, 1000, 3999},
	} {
		after, skip, ok := ix.Seek("acme", "User", 7, tc.start)
		if ok != tc.ok || (ok && (after.Created != tc.created || skip != tc.skip)) {
			t.Errorf("Seek(start %d) = %v, %d, %v; want key %d, skip %d, %v", tc.start, after, skip, ok, tc.created, tc.skip, tc.ok)
		}
	}
	if _, _, ok := ix.Seek("acme", "User", 8, 500); ok {
		t.Error("Seek with another changes value found keys")
	}
	if _, _, ok := ix.Seek("acme", "Group", 7, 500); ok {
		t.Error("Seek of another type found keys")
	}
	if _, _, ok := ix.Seek("globex", "User", 7, 500); ok {
		t.Error("Seek of another tenant found keys")
	}
}

func TestSteppedAsksForARebuildOnceTheSkipsPayForIt(t *testing.T) {
	ix := listpos.New()
	if ix.Stepped("acme", "User", 1, 400, 1000) {
		t.Error("rebuild after 400 of 1000 rows stepped over")
	}
	if !ix.Stepped("acme", "User", 1, 600, 1000) {
		t.Error("no rebuild after 1000 of 1000 rows stepped over")
	}
	ix.Store("acme", "User", 1, 100, keysOf(1000, 100))
	if ix.Stepped("acme", "User", 1, 5000, 1000) {
		t.Error("rebuild asked for keys that are current")
	}
	if ix.Stepped("acme", "User", 2, 999, 1000) {
		t.Error("rebuild right after the keys went stale")
	}
}

func TestStepKeepsAtMostAThousandKeys(t *testing.T) {
	for _, n := range []int{0, 1, 100, 10_000, 100_000, 1_000_000, 1_000_001} {
		step := listpos.Step(n)
		if step < 100 || n/step > 1000 {
			t.Errorf("Step(%d) = %d: %d keys", n, step, n/step)
		}
	}
}

// TestBounded stores far more slots and keys than the bounds allow and checks that the
// index keeps within them and still answers for what it holds.
func TestBounded(t *testing.T) {
	ix := listpos.New()
	keys := keysOf(100_000, 100) // 1,000 keys a slot
	for i := range 3000 {
		tenant := fmt.Sprint("t", i)
		ix.Stepped(tenant, "User", 1, 10, 100)
		ix.Store(tenant, "User", 1, 100, keys)
		if _, _, ok := ix.Seek(tenant, "User", 1, 5000); !ok {
			t.Fatalf("slot %d: just stored, not found", i)
		}
		if n, keys := ix.Size(); n > 1024 || keys > 100_000 {
			t.Fatalf("after %d slots: %d slots, %d keys", i+1, n, keys)
		}
	}
}
