// Command scimtrail runs the scimtrail server and administers its database (DESIGN.md §5).
//
// All of the program lives in Main so that end-to-end tests can run the real thing
// in-process: they pass their own stdout, stderr and environment, start `serve` on
// 127.0.0.1:0, learn the address from Ready, and stop it by cancelling the context.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal, restore the default behaviour so that a second Ctrl-C kills
	// a server whose drain is taking too long instead of being swallowed.
	go func() {
		<-ctx.Done()
		stop()
	}()

	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	err := m.Run(ctx, os.Args[1:])
	if err != nil && !errors.Is(err, errHelp) {
		var ue *usageError
		if !errors.As(err, &ue) {
			// Usage errors have already been printed with the usage text.
			fmt.Fprintf(os.Stderr, "scimtrail: %v\n", err)
		}
	}
	os.Exit(ExitCode(err))
}

// Main is the whole program. The zero value is not usable: set Stdout, Stderr and Getenv.
type Main struct {
	// Stdout receives command output meant for people and scripts: issued secrets,
	// listings, the first-start banner.
	Stdout io.Writer
	// Stderr receives logs and error messages.
	Stderr io.Writer
	// Getenv reads configuration from the environment (SCIMTRAIL_*); os.Getenv in main.
	Getenv func(string) string

	// Ready, if set, receives the server's base URL (e.g. "http://127.0.0.1:41234") once
	// `serve` is listening, which is how tests learn the port chosen for --addr :0. The send
	// gives up when the context is cancelled, so an unread channel never hangs the server.
	Ready chan<- string

	// readHeaderTimeout, if set, replaces the server's ReadHeaderTimeout: the slowloris
	// test needs slow clients cut off in a second, not ten.
	readHeaderTimeout time.Duration
}

// Run runs the subcommand named by args[0] and returns when it is done; for `serve`, that is
// after ctx is cancelled and the server has drained and closed the database. Map the error
// to a process exit code with ExitCode.
func (m *Main) Run(ctx context.Context, args []string) error {
	if m.Getenv == nil {
		m.Getenv = func(string) string { return "" }
	}
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	if len(args) == 0 {
		return m.usage(mainUsage, errors.New("no command given"))
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.runServe(ctx, rest)
	case "tenant":
		return m.runTenant(ctx, rest)
	case "token":
		return m.runToken(ctx, rest)
	case "audit":
		return m.runAudit(ctx, rest)
	case "migrate":
		return m.runMigrate(ctx, rest)
	case "report":
		return m.runReport(ctx, rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(m.Stdout, mainUsage)
		return nil
	default:
		return m.usage(mainUsage, fmt.Errorf("unknown command %q", cmd))
	}
}

const mainUsage = `Usage: scimtrail COMMAND [ARGS]

A SCIM 2.0 service provider with a per-tenant tamper-evident audit ledger.

Commands:
  serve     run the HTTP server
  tenant    create or list tenants
  token     issue, list or revoke bearer tokens
  audit     verify or export a tenant's audit log; print or rotate signing keys
  migrate   apply database migrations
  report    write a verifiable evidence report (access at an instant, access reviews)

Run "scimtrail COMMAND -h" for a command's flags. Every flag can also be set
from the environment as SCIMTRAIL_<FLAG> (e.g. SCIMTRAIL_DB for --db); a flag on
the command line wins over the environment.
`

// usageError is a mistake in how the program was invoked: exit code 2, and the usage text
// has been printed.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usage prints err and the usage text to stderr and returns a usageError.
func (m *Main) usage(text string, err error) error {
	fmt.Fprintf(m.Stderr, "scimtrail: %v\n\n%s", err, text)
	return &usageError{err: err}
}

// errHelp is returned when the user asked for help: the usage text went to stdout and the
// exit code is 0.
var errHelp = errors.New("help requested")

// ExitCode maps Run's error to the process exit code: 0 for success (and for -h), 2 for
// usage errors, 1 for everything else.
func ExitCode(err error) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}
