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

       scimtrail report review start --tenant ID --scope all|privileged|role [--role R]
                        [--db DSN] [--signing-key FILE|TEXT]
       scimtrail report review export --tenant ID --review ID [--db DSN] [--out FILE]
                        [--signing-key FILE|TEXT]

review start starts an access review of the tenant's access now (recorded as
access.review_started) and prints it; reviewers record their keep/revoke decisions
with POST /api/v1/tenants/{t}/access-reviews/{id}/decisions. review export writes
the review with every decision and its evidence: the same document as
GET /api/v1/tenants/{t}/access-reviews/{id}, verifiable with "audit verify --report".
`

func (m *Main) runReport(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(reportUsage, errors.New("report: missing access"))
	}
	switch args[0] {
	case "access":
		return m.reportAccess(ctx, args[1:])
	case "review":
		return m.reportReview(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, reportUsage)
		return errHelp
	}
	return m.usage(reportUsage, fmt.Errorf("report: unknown report %q", args[0]))
}

// reportFlags are the flags every report command takes; more go on c.fs before parse.
type reportFlags struct {
	cfg         serveConfig
	tenant, out string
}

func (m *Main) reportCommand(name string, args []string, more func(*command)) (*reportFlags, error) {
	c := m.newCommand(name, reportUsage)
	f := &reportFlags{}
	c.fs.StringVar(&f.cfg.dsn, "db", defaultDB, "")
	c.fs.StringVar(&f.cfg.signingKey, "signing-key", "", "")
	c.fs.StringVar(&f.tenant, "tenant", "", "")
	c.fs.StringVar(&f.out, "out", "", "")
	more(c)
	pos, err := c.parse(args)
	if err != nil {
		return nil, err
	}
	if err := c.wantArgs(pos); err != nil {
		return nil, err
	}
	if f.tenant == "" {
		return nil, m.usage(reportUsage, fmt.Errorf("%s: --tenant is required", name))
	}
	return f, nil
}

// withSigningService opens the store and a service that signs checkpoints with the install's ring.
func (m *Main) withSigningService(ctx context.Context, cfg serveConfig, fn func(*service.Service) error) error {
	store, err := openStore(ctx, cfg.dsn, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactDSN(cfg.dsn), err)
	}
	defer store.Close()
	svc, _, err := m.ledgerService(ctx, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), service.Options{})
	if err != nil {
		return err
	}
	return fn(svc)
}

// writeReport writes v as indented JSON to out, or to stdout when out is "".
func (m *Main) writeReport(v any, out string) (bool, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	if out == "" {
		_, err = m.Stdout.Write(b)
		return false, err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return false, fmt.Errorf("write the report: %w", err)
	}
	return true, nil
}

func (m *Main) reportAccess(ctx context.Context, args []string) error {
	var atText string
	f, err := m.reportCommand("report access", args, func(c *command) { c.fs.StringVar(&atText, "at", "", "") })
	if err != nil {
		return err
	}
	var at time.Time
	if atText != "" {
		if at, err = time.Parse(time.RFC3339Nano, atText); err != nil {
			return m.usage(reportUsage, fmt.Errorf("report access: --at %q is not an RFC 3339 time", atText))
		}
	}
	return m.withSigningService(ctx, f.cfg, func(svc *service.Service) error {
		rep, err := svc.AccessReport(ctx, f.tenant, at)
		if err != nil {
			return err
		}
		if wrote, err := m.writeReport(rep, f.out); !wrote || err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "wrote %s: %d users at %s, checkpoint size %d, %d cited entries\n", f.out, len(rep.Users),
			rep.At.Format(time.RFC3339Nano), rep.Evidence.Size, len(rep.Evidence.Entries))
		return nil
	})
}

func (m *Main) reportReview(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(reportUsage, errors.New("report review: missing start or export"))
	}
	switch args[0] {
	case "start":
		var in service.ReviewInput
		f, err := m.reportCommand("report review start", args[1:], func(c *command) {
			c.fs.StringVar(&in.Scope, "scope", "", "")
			c.fs.StringVar(&in.Role, "role", "", "")
		})
		if err != nil {
			return err
		}
		return m.withSigningService(ctx, f.cfg, func(svc *service.Service) error {
			rv, _, err := svc.StartReview(ctx, cliOrigin, f.tenant, in)
			if err != nil {
				return err
			}
			_, err = m.writeReport(rv, f.out)
			return err
		})
	case "export":
		var id string
		f, err := m.reportCommand("report review export", args[1:], func(c *command) { c.fs.StringVar(&id, "review", "", "") })
		if err != nil {
			return err
		}
		if id == "" {
			return m.usage(reportUsage, errors.New("report review export: --review is required"))
		}
		return m.withSigningService(ctx, f.cfg, func(svc *service.Service) error {
			rep, err := svc.ReviewReport(ctx, f.tenant, id)
			if err != nil {
				return err
			}
			if wrote, err := m.writeReport(rep, f.out); !wrote || err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "wrote %s: %d items (%d kept, %d revoked, %d pending), checkpoint size %d, %d cited entries\n", f.out,
				rep.Summary.Items, rep.Summary.Kept, rep.Summary.Revoked, rep.Summary.Pending, rep.Evidence.Size, len(rep.Evidence.Entries))
			return nil
		})
	}
	return m.usage(reportUsage, fmt.Errorf("report review: unknown command %q", args[0]))
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
