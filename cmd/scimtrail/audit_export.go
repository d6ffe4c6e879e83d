package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/syslog"
	"github.com/scimtrail/scimtrail/service"
)

// lineExport is one `audit export --format` run: a tenant's entries in seq order, one
// record a line, each in the very encoding a sink of that format delivers.
type lineExport struct {
	tenant, format string
	after, last    int64 // entries with after < seq <= last
	since, until   time.Time
	checkpoint     json.RawMessage
}

// exportLine encodes one record: native and ocsf as the Kafka sink's value (the native
// record, or the OCSF event with tenant, seq, leaf hash and checkpoint beside it), cef as
// the syslog sink's CEF line. No format of its own.
func exportLine(r export.Record, format string) ([]byte, error) {
	if format == service.FormatCEF {
		line, err := syslog.CEF(r.Entry, r.Tenant, r.Seq, r.LeafHash)
		return []byte(line), err
	}
	return export.KafkaValue(r, format)
}

var cefSeq = regexp.MustCompile(`[| ]cn1=([0-9]+)(?: |$)`)

// lineSeq reads back the seq of a line exportLine wrote, for --resume.
func lineSeq(line []byte, format, tenant string) (int64, error) {
	if format == service.FormatCEF {
		m := cefSeq.FindSubmatch(line)
		if m == nil {
			return 0, errors.New("not a CEF line with a seq (cn1)")
		}
		return strconv.ParseInt(string(m[1]), 10, 64)
	}
	var r struct {
		Tenant string `json:"tenant"`
		Seq    *int64 `json:"seq"`
	}
	if err := json.Unmarshal(line, &r); err != nil || r.Seq == nil {
		return 0, fmt.Errorf("not a %s record with a seq", format)
	}
	if r.Tenant != tenant {
		return 0, fmt.Errorf("a record of tenant %q, not %q", r.Tenant, tenant)
	}
	return *r.Seq, nil
}

// parseBound reads --since/--until: a seq (a whole number) or an RFC 3339 time.
func parseBound(flag, s string) (seq int64, t time.Time, err error) {
	if s == "" {
		return 0, time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 1 {
		return n, time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return 0, t, nil
	}
	return 0, time.Time{}, fmt.Errorf("%s %q: want a seq (1, 2, …) or an RFC 3339 time (2026-11-29T10:00:00Z)", flag, s)
}

// resumePoint returns the seq of the last whole line of the file at path and cuts off a
// line the previous run left half written (interrupted mid-write), so that appending goes
// on right after the last whole record. A missing or empty file resumes from the start.
func resumePoint(path, format, tenant string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	// Read backwards in blocks until the last whole line is in view.
	size := st.Size()
	var tail []byte
	for block := int64(64 << 10); ; block *= 2 {
		start := max(0, size-block)
		tail = make([]byte, size-start)
		if _, err := f.ReadAt(tail, start); err != nil && err != io.EOF {
			return 0, err
		}
		end := bytes.LastIndexByte(tail, '\n')
		if end < 0 && start > 0 {
			continue
		}
		if end < 0 { // not one whole line: start again
			return 0, f.Truncate(0)
		}
		prev := bytes.LastIndexByte(tail[:end], '\n')
		if prev < 0 && start > 0 {
			continue
		}
		seq, err := lineSeq(tail[prev+1:end], format, tenant)
		if err != nil {
			return 0, fmt.Errorf("--resume: the last line of %s is %w; not appending to it", path, err)
		}
		if cut := start + int64(end) + 1; cut < size {
			if err := f.Truncate(cut); err != nil {
				return 0, err
			}
		}
		return seq, f.Sync()
	}
}

// run writes the records to w and returns how many it wrote and how many pruned entries
// (bodies dropped by retention, which no format can render) it skipped. On an error or a
// cancelled ctx, w holds whole lines up to the last record counted.
func (x *lineExport) run(ctx context.Context, store scimtrail.Store, w *bufio.Writer, bar func()) (written, pruned int64, err error) {
	const page = 4096
	after := x.after
	var line []byte
	for after < x.last {
		var entries []scimtrail.StoredEntry
		err := store.View(ctx, func(tx scimtrail.ReadTx) error {
			var err error
			entries, err = tx.Entries(ctx, x.tenant, after, page, scimtrail.EntryFilter{Since: x.since, Until: x.until})
			return err
		})
		if err != nil {
			return written, pruned, err
		}
		for _, e := range entries {
			if e.Seq > x.last {
				return written, pruned, nil
			}
			after = e.Seq
			if e.Body == nil {
				pruned++
				continue
			}
			r := export.Record{Tenant: x.tenant, Seq: e.Seq, LeafHash: hex.EncodeToString(e.LeafHash), Checkpoint: x.checkpoint, Entry: e.Body}
			if line, err = exportLine(r, x.format); err != nil {
				return written, pruned, fmt.Errorf("entry %d as %s: %w", e.Seq, x.format, err)
			}
			w.Write(line)
			if err := w.WriteByte('\n'); err != nil {
				return written, pruned, err
			}
			written++
			bar()
		}
		if len(entries) < page {
			break
		}
		if err := ctx.Err(); err != nil {
			return written, pruned, err
		}
	}
	return written, pruned, nil
}

// auditExportLines is `audit export --format native|ocsf|cef`.
func (m *Main) auditExportLines(ctx context.Context, dsn, tenant, out, format, signingKey, since, until string, resume, progress bool) error {
	switch format {
	case service.FormatNative, service.FormatOCSF, service.FormatCEF:
	default:
		return m.usage(auditUsage, fmt.Errorf("audit export: --format %q: want native, ocsf or cef (or none for a bundle)", format))
	}
	if resume && out == "-" {
		return m.usage(auditUsage, errors.New("audit export: --resume needs --out FILE: it continues after the file's last line"))
	}
	x := lineExport{tenant: tenant, format: format}
	sinceSeq, sinceT, err := parseBound("--since", since)
	if err != nil {
		return m.usage(auditUsage, err)
	}
	untilSeq, untilT, err := parseBound("--until", until)
	if err != nil {
		return m.usage(auditUsage, err)
	}
	x.since, x.until = sinceT, untilT
	if sinceSeq > 0 {
		x.after = sinceSeq - 1
	}
	if resume {
		last, err := resumePoint(out, format, tenant)
		if err != nil {
			return err
		}
		x.after = max(x.after, last)
	}

	store, log, err := openLog(ctx, dsn, tenant)
	if err != nil {
		return err
	}
	defer store.Close()
	x.last = log.size
	if untilSeq > 0 {
		x.last = min(x.last, untilSeq)
	}
	// Each record carries the latest checkpoint, as sinks deliver it: signed now when the
	// key ring is at hand (so it covers every record), else the latest one stored.
	if ring, _, err := m.loadKeyRing(signingKey, dsn, ""); err == nil {
		x.checkpoint, err = service.New(store, service.Options{Keys: ring}).CheckpointRecord(ctx, tenant)
		if err != nil {
			return fmt.Errorf("sign a checkpoint for the records: %w", err)
		}
	} else {
		var cp scimtrail.StoredCheckpoint
		err := store.View(ctx, func(tx scimtrail.ReadTx) error {
			var err error
			cp, err = tx.LatestCheckpoint(ctx, tenant)
			return err
		})
		if err == nil {
			x.checkpoint, err = service.CheckpointJSON(cp)
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "no checkpoint in the records: %v\n", err)
			x.checkpoint = json.RawMessage("null")
		}
	}

	var dst io.Writer = m.Stdout
	var f *os.File
	if out != "-" {
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if resume {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		if f, err = os.OpenFile(out, flags, 0o600); err != nil {
			return fmt.Errorf("open %s: %w", out, err)
		}
		defer f.Close()
		dst = f
	}
	w := bufio.NewWriterSize(dst, 1<<20)
	bar := m.progressBar(progress, max(0, x.last-x.after), "exporting")
	written, pruned, err := x.run(ctx, store, w, func() {
		if bar != nil {
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(m.Stderr)
	}
	// Whatever was written is flushed and synced even on an error, so --resume goes on from it.
	err = errors.Join(err, w.Flush())
	if f != nil {
		err = errors.Join(err, f.Sync())
	}
	if err != nil {
		return fmt.Errorf("export %s after %d records (resume with --resume): %w", log.origin, written, err)
	}
	report := m.Stdout
	if out == "-" {
		report = m.Stderr
	}
	fmt.Fprintf(report, "exported %d entries of %s as %s to %s", written, log.origin, format, out)
	if pruned > 0 {
		fmt.Fprintf(report, " (skipped %d pruned entries)", pruned)
	}
	fmt.Fprintln(report)
	return nil
}
