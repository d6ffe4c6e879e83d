package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Mix weights the mixed phase's operations. Weights are relative; the keys of ParseMix are
// get, filter, patch_active, patch_name, put, member and list. A member pick makes two
// requests (add, then remove, one member of one group).
type Mix struct {
	Get, Filter, PatchActive, PatchName, Put, Member, List int
}

// DefaultMix leans on reads, as IdP traffic does, while giving every write path enough
// requests for a stable p99.
func DefaultMix() Mix {
	return Mix{Get: 30, Filter: 20, PatchActive: 10, PatchName: 10, Put: 5, Member: 15, List: 10}
}

func (m Mix) entries() []struct {
	key, op string
	w       int
} {
	return []struct {
		key, op string
		w       int
	}{
		{"get", OpGet, m.Get},
		{"filter", OpFilter, m.Filter},
		{"patch_active", OpPatchActive, m.PatchActive},
		{"patch_name", OpPatchName, m.PatchName},
		{"put", OpPut, m.Put},
		{"member", OpGroupAdd, m.Member},
		{"list", OpList, m.List},
	}
}

func (m Mix) total() int {
	t := 0
	for _, e := range m.entries() {
		t += e.w
	}
	return t
}

// String is the mix as ParseMix reads it, with percentages of picks appended.
func (m Mix) String() string {
	var parts []string
	t := m.total()
	for _, e := range m.entries() {
		if e.w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d (%.0f%%)", e.key, e.w, 100*float64(e.w)/float64(t)))
		}
	}
	return strings.Join(parts, ", ")
}

// table expands the weights into a slice to pick from uniformly: one draw per operation,
// no search. Weights are small integers, so the slice is short.
func (m Mix) table(withGroups bool) []string {
	var t []string
	for _, e := range m.entries() {
		if e.op == OpGroupAdd && !withGroups {
			continue
		}
		for range e.w {
			t = append(t, e.op)
		}
	}
	return t
}

// ParseMix reads "get=30,filter=20,…"; keys left out get weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	fields := map[string]*int{
		"get": &m.Get, "filter": &m.Filter, "patch_active": &m.PatchActive, "patch_name": &m.PatchName,
		"put": &m.Put, "member": &m.Member, "list": &m.List,
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		p := fields[strings.TrimSpace(k)]
		if !ok || p == nil {
			return Mix{}, fmt.Errorf("mix entry %q: want KEY=WEIGHT with KEY one of get, filter, patch_active, patch_name, put, member, list", part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 1000 {
			return Mix{}, fmt.Errorf("mix entry %q: weight must be an integer from 0 to 1000", part)
		}
		*p = n
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("mix %q has no operation with a positive weight", s)
	}
	return m, nil
}
