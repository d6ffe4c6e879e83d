//go:build !unix

package loadgen

import "time"

// processCPU reports 0 where getrusage is not available; reports then leave CPU time out.
func processCPU() time.Duration { return 0 }
