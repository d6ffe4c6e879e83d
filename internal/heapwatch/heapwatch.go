// Package heapwatch samples the process's live heap with runtime/metrics, for the abuse
// tests that must show memory stays bounded while hostile clients do their worst. It is
// shared by the httpapi and cmd/scimtrail tests, which both run the server in process.
package heapwatch

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bound is the most live heap a test process may hold during an abuse run: a few copies of
// the largest body the server accepts, far below what an unbounded read of any attack in
// the suites would take (each is megabytes to gigabytes when expanded, or hundreds of
// sockets each buffering a request). It measures the whole test process, client included,
// so it is loose; what it catches is a server that holds hundreds of megabytes.
const Bound = 256 << 20

// Watch samples /memory/classes/heap/objects:bytes every 5 ms until Stop.
type Watch struct {
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

// Start starts sampling.
func Start() *Watch {
	w := &Watch{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	w.done.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > w.peak.Load() {
				w.peak.Store(v)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// Stop stops sampling and returns the largest live heap seen, in bytes.
func (w *Watch) Stop() uint64 {
	close(w.stop)
	w.done.Wait()
	return w.peak.Load()
}

// Bounded samples the live heap until the test ends and then fails it if the peak was over
// Bound.
func Bounded(tb testing.TB) {
	w := Start()
	tb.Cleanup(func() {
		peak := w.Stop()
		tb.Logf("peak live heap: %d MiB", peak>>20)
		if peak > Bound {
			tb.Errorf("peak live heap %d MiB, over the bound of %d MiB", peak>>20, Bound>>20)
		}
	})
}
