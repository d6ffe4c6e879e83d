// Package gcpolicy sets the garbage collector of a scimtrail server process. Go's default
// (GOGC=100, no memory limit) collects whenever the heap doubles; a server whose live heap
// is a few tens of MB then collects every few hundred requests, and GC was ≥ 6% of a
// create's CPU. A higher GOGC collects less often; the soft memory limit keeps the heap
// under the server's memory budget (issue 8: RSS ≤ 300 MB at 1M users) by collecting
// sooner when the heap approaches it, whatever GOGC says.
package gcpolicy

import "runtime/debug"

const (
	// Percent is GOGC: the heap may grow to 5× the live heap between collections.
	Percent = 400
	// Limit is the soft limit on the Go runtime's memory (GOMEMLIMIT). SQLite's page
	// caches (the writer's 64 MiB, the readers' few MiB each) and the binary are outside
	// it; with them the process's own memory stays under 300 MB.
	Limit = 160 << 20
)

// Apply sets Percent and Limit unless the operator set GOGC or GOMEMLIMIT in the
// environment, which the runtime has then already applied and which win. It reports
// whether it changed anything.
func Apply(getenv func(string) string) bool {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(Percent)
	debug.SetMemoryLimit(Limit)
	return true
}
