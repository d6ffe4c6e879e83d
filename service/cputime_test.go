package service

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) this process has used. Benchmarks report it
// per operation beside ns/op because the 2-core machine they run on is shared: wall time
// swings with other work, CPU time much less.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time since start per unit (per op, per entry, …).
func reportCPU(b *testing.B, start time.Duration, units int64, name string) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(units), name)
}
