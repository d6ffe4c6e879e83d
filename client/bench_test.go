package client_test

import (
	"fmt"
	"testing"

	"github.com/scimtrail/scimtrail/client"
)

// BenchmarkRecordEvents measures batched ingestion through HTTP into SQLite: one client,
// one request at a time, each batch one transaction. docs/benchmarks.md has the numbers.
func BenchmarkRecordEvents(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := newServer(b)
			c := client.New(s.URL, s.app, client.WithBatchSize(size))
			evs := events(size)
			for b.Loop() {
				if _, err := c.RecordEvents(b.Context(), "acme", evs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
