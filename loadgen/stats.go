package loadgen

import (
	"slices"
	"sync"
	"time"
)

// recorder collects one worker's latencies and errors per operation. Each worker owns one,
// so recording takes no lock; they are merged when the phase ends.
type recorder struct {
	samples map[string][]time.Duration
	errors  map[string]int64
	// firstErrs keeps a few error messages per operation, so a report can say what went
	// wrong, not only how often.
	firstErrs map[string][]string
}

// maxErrorSamples bounds the messages kept per operation.
const maxErrorSamples = 3

func newRecorder() *recorder {
	return &recorder{
		samples:   make(map[string][]time.Duration),
		errors:    make(map[string]int64),
		firstErrs: make(map[string][]string),
	}
}

// record notes one completed request of op. A failed request counts in the operation's
// count and latency as well as in its errors: it did cost the server that time.
func (r *recorder) record(op string, d time.Duration, err error) {
	r.samples[op] = append(r.samples[op], d)
	if err != nil {
		r.errors[op]++
		if len(r.firstErrs[op]) < maxErrorSamples {
			r.firstErrs[op] = append(r.firstErrs[op], err.Error())
		}
	}
}

// OpStats is the outcome of one operation over one phase.
type OpStats struct {
	Phase     string  `json:"phase"`
	Op        string  `json:"op"`
	Count     int64   `json:"count"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latencies in milliseconds, nearest-rank over every sample (no histogram error).
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	// ErrorSamples are the first few error messages, to tell a broken endpoint from a slow one.
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// summarize merges the workers' recorders into per-operation statistics, in the order of
// ops; elapsed is the phase's wall-clock time, which every operation of the phase shared.
func summarize(phase string, ops []string, recs []*recorder, elapsed time.Duration) []OpStats {
	var out []OpStats
	for _, op := range ops {
		var all []time.Duration
		s := OpStats{Phase: phase, Op: op}
		for _, r := range recs {
			all = append(all, r.samples[op]...)
			s.Errors += r.errors[op]
			for _, m := range r.firstErrs[op] {
				if len(s.ErrorSamples) < maxErrorSamples {
					s.ErrorSamples = append(s.ErrorSamples, m)
				}
			}
		}
		if len(all) == 0 {
			continue
		}
		slices.Sort(all)
		s.Count = int64(len(all))
		if elapsed > 0 {
			s.OpsPerSec = float64(s.Count) / elapsed.Seconds()
		}
		s.P50Ms = ms(quantile(all, 0.50))
		s.P99Ms = ms(quantile(all, 0.99))
		s.P999Ms = ms(quantile(all, 0.999))
		s.MaxMs = ms(all[len(all)-1])
		out = append(out, s)
	}
	return out
}

// quantile is the nearest-rank quantile q of sorted, which is not empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recorders hands out one recorder per worker and keeps them for summarize.
type recorders struct {
	mu   sync.Mutex
	list []*recorder
}

func (rs *recorders) add() *recorder {
	r := newRecorder()
	rs.mu.Lock()
	rs.list = append(rs.list, r)
	rs.mu.Unlock()
	return r
}
