// Package listpos remembers where startIndex pages begin in a tenant's resources, so that a
// deep page seeks to a remembered key instead of stepping over every row before it (SQL
// OFFSET is O(startIndex): half the CPU of a random list page at 10k users, issue 8).
//
// The remembered keys are valid only for the store snapshot they were read in. A backend
// keeps a counter per tenant and type that every insert and delete of such a resource
// increments in its own transaction (resource_counts.changes, migration 00023) and updates
// never move a resource in creation order (created and id are fixed), so a snapshot with
// the same counter value holds exactly the same sequence of keys. Reads pass the counter of
// their own snapshot; a different value is a miss, never a wrong page.
package listpos

import "sync"

// Key is a resource's place in creation order, the default list order: created time in
// microseconds, then id.
type Key struct {
	Created int64
	ID      string
}

// Index holds, per tenant and type, the key at every step-th position for one counter
// value. It holds at most maxEntries slots and maxTotalKeys keys (a few MB), dropping
// random slots beyond; the zero value is not usable, use New.
type Index struct {
	mu   sync.Mutex
	m    map[slot]*entry
	keys int // held in all slots
}

type slot struct{ tenant, typ string }

type entry struct {
	changes int64
	step    int
	keys    []Key // keys[i] is the key at position (i+1)*step, counting from 1
	// debt is the OFFSET rows stepped over since the keys went stale, see Stepped.
	debt int
}

const (
	maxEntries   = 1024    // tenant × type slots kept
	maxKeys      = 1000    // keys per slot: the step grows with the tenant instead
	maxTotalKeys = 100_000 // about 10 MB of keys with 36-character ids
	minStep      = 100
)

// New returns an empty index.
func New() *Index { return &Index{m: make(map[slot]*entry)} }

// Step is the distance between remembered positions for n resources: at least minStep, and
// large enough that at most maxKeys are kept.
func Step(n int) int { return max(minStep, (n+maxKeys-1)/maxKeys) }

// Seek returns the remembered key closest before position start (1-based) and how many
// rows after it the page begins, or ok=false when nothing useful is remembered for this
// counter value.
func (ix *Index) Seek(tenant, typ string, changes int64, start int) (after Key, skip int, ok bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.m[slot{tenant, typ}]
	if e == nil || e.changes != changes || start <= e.step {
		return Key{}, 0, false
	}
	i := min((start-1)/e.step, len(e.keys)) // keys[i-1] is at position i*step ≤ start-1
	if i == 0 {
		return Key{}, 0, false
	}
	return e.keys[i-1], start - 1 - i*e.step, true
}

// Stepped records that a page stepped over skipped rows because Seek missed, and reports
// whether rebuilding the keys is now worth it: once the rows stepped over since they went
// stale reach n, the tenant's size, a rebuild (one pass over n keys) costs no more than
// what was already spent. So a tenant written to between every list page pays at most
// twice the plain OFFSET cost, and a quiet one pays one pass.
func (ix *Index) Stepped(tenant, typ string, changes int64, skipped, n int) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.m[slot{tenant, typ}]
	if e == nil {
		ix.makeRoom(0)
		e = &entry{changes: -1}
		ix.m[slot{tenant, typ}] = e
	}
	if e.changes == changes {
		return false
	}
	e.debt += skipped
	return e.debt >= n
}

// Store remembers keys (every step-th, as Build collects them) for a counter value.
func (ix *Index) Store(tenant, typ string, changes int64, step int, keys []Key) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old := ix.m[slot{tenant, typ}]; old != nil {
		ix.keys -= len(old.keys)
		delete(ix.m, slot{tenant, typ})
	}
	ix.makeRoom(len(keys))
	ix.m[slot{tenant, typ}] = &entry{changes: changes, step: step, keys: keys}
	ix.keys += len(keys)
}

// makeRoom drops random slots (map iteration starts anywhere) until one more slot with n
// keys fits the bounds. The caller holds mu.
func (ix *Index) makeRoom(n int) {
	for k, e := range ix.m {
		if len(ix.m) < maxEntries && ix.keys+n <= maxTotalKeys {
			return
		}
		delete(ix.m, k)
		ix.keys -= len(e.keys)
	}
}

// Collector gathers every step-th key of a scan in order.
type Collector struct {
	Step int
	n    int
	Keys []Key
}

// Add takes the next key of the scan.
func (c *Collector) Add(k Key) {
	c.n++
	if c.n%c.Step == 0 {
		c.Keys = append(c.Keys, k)
	}
}

// Size is how many slots and keys the index holds.
func (ix *Index) Size() (slots, keys int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.m), ix.keys
}
