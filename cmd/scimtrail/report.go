package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

const reportUsage = `Usage: scimtrail report access --tenant ID [--at RFC3339] [--db DSN] [--out FILE]
                        [--signing-key FILE|TEXT]

access writes the point-in-time access report of a tenant as JSON: every user's
effective access at --at (default now) with the paths that grant it, the signed
checkpoint it was computed at, and each granting entry with its inclusion proof:
the same document as GET /api/v1/tenants/{t}/reports/access. Check a saved
report offline with "scimtrail audit verify --report FILE --keys FILE|URL".
`

func (m *Main) runReport(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(reportUsage, errors.New("report: missing access"))
	}
	switch args[0] {
	case "access":
		return m.reportAccess(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, reportUsage)
		return errHelp
	}
	return m.usage(reportUsage, fmt.Errorf("report: unknown report %q", args[0]))
}

func (m *Main) reportAccess(ctx context.Context, args []string) error {
	c := m.newCommand("report access", reportUsage)
	var cfg serveConfig
	var tenant, atText, out string
	c.fs.StringVar(&cfg.dsn, "db", defaultDB, "")
	c.fs.StringVar(&cfg.signingKey, "signing-key", "", "")
	c.fs.StringVar(&tenant, "tenant", "", "")
	c.fs.StringVar(&atText, "at", "", "")
	c.fs.StringVar(&out, "out", "", "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	if tenant == "" {
		return m.usage(reportUsage, errors.New("report access: --tenant is required"))
	}
	var at time.Time
	if atText != "" {
		if at, err = time.Parse(time.RFC3339Nano, atText); err != nil {
			return m.usage(reportUsage, fmt.Errorf("report access: --at %q is not an RFC 3339 time", atText))
		}
	}
	store, err := openStore(ctx, cfg.dsn, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactDSN(cfg.dsn), err)
	}
	defer store.Close()
	svc, _, err := m.ledgerService(ctx, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.Options{})
	if err != nil {
		return err
	}
	rep, err := svc.AccessReport(ctx, tenant, at)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" {
		_, err = m.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	fmt.Fprintf(m.Stdout, "wrote %s: %d users at %s, checkpoint size %d, %d cited entries\n", out, len(rep.Users),
		rep.At.Format(time.RFC3339Nano), rep.Evidence.Size, len(rep.Evidence.Entries))
	return nil
}

// verifyReport is `audit verify --report FILE --keys …`: it checks a saved evidence report
// offline. Exit 0 verified, 1 the evidence does not verify, 2 usage or I/O error.
func (m *Main) verifyReport(ctx context.Context, file, keysSpec string) error {
	if keysSpec == "" {
		return m.usage(auditUsage, errors.New("audit verify: --report needs --keys"))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return ioFail("read the report: %w", err)
	}
	keys, err := readVerifierKeys(ctx, keysSpec)
	if err != nil {
		return ioFail("%w", err)
	}
	verifiers, err := ledger.ParseVerifierKeys(keys)
	if err != nil {
		return ioFail("verifier keys: %w", err)
	}
	v, err := ledger.VerifyReport(data, verifiers)
	if errors.Is(err, ledger.ErrReportTampered) {
		fmt.Fprintf(m.Stdout, "FAIL %s\ndetail: %v\n", file, err)
		return &exitError{code: 1, err: err}
	}
	if err != nil {
		return ioFail("%w", err)
	}
	fmt.Fprintf(m.Stdout, "OK %s\nlog: %s\ncheckpoint size: %d\nroot: %x\ncited entries: %d\n", file, v.Checkpoint.Origin, v.Checkpoint.Size, v.Checkpoint.Root, len(v.Bodies))
	return nil
}
