package loadgen

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report for people: the set-up, one row per phase and operation,
// and the first error messages of any operation that had errors.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scimtrail-bench  %s  (%s)\n", rep.URL, rep.Backend)
	fmt.Fprintf(w, "concurrency %d, %d users, %d groups × %d members, seed %d", rep.Concurrency, rep.Users, rep.Groups, rep.MembersPerGroup, rep.Seed)
	if rep.OpsTarget > 0 {
		fmt.Fprintf(w, ", mixed ops %d", rep.OpsTarget)
	}
	if rep.DurationCap != "" {
		fmt.Fprintf(w, ", mixed phase capped at %s", rep.DurationCap)
	}
	fmt.Fprintf(w, "\nmix: %s\n\n", rep.Mix)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\top\tcount\tops/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t")
	for _, p := range rep.Phases {
		for _, o := range p.Ops {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t\n",
				p.Name, o.Op, o.Count, o.OpsPerSec, o.P50Ms, o.P99Ms, o.P999Ms, o.MaxMs, o.Errors)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, p := range rep.Phases {
		total := int64(0)
		for _, o := range p.Ops {
			total += o.Count
		}
		if p.ElapsedSec > 0 {
			fmt.Fprintf(w, "phase %-7s %8.2fs  %8d requests  %8.0f req/s", p.Name, p.ElapsedSec, total, float64(total)/p.ElapsedSec)
			if p.CPUSec > 0 && total > 0 {
				fmt.Fprintf(w, "  cpu %.2fs = %.0f µs/request", p.CPUSec, p.CPUSec*1e6/float64(total))
			}
			if p.ServerCPUSec > 0 && total > 0 {
				fmt.Fprintf(w, "  server cpu %.0f µs/request", p.ServerCPUSec*1e6/float64(total))
			}
			fmt.Fprintln(w)
		}
	}
	if b := rep.WriteBatches; b != nil {
		fmt.Fprintf(w, "write batches: %d committed, %d commands, %.2f commands per batch\n", b.Batches, b.Commands, b.CommandsPerBatch)
	}
	for _, p := range rep.Phases {
		for _, o := range p.Ops {
			for _, m := range o.ErrorSamples {
				fmt.Fprintf(w, "error %s/%s: %s\n", p.Name, o.Op, m)
			}
		}
	}
	if rep.Errors > 0 {
		fmt.Fprintf(w, "FAIL: %d errors\n", rep.Errors)
	} else {
		fmt.Fprintln(w, "ok: no errors")
	}
	return nil
}
