// Command scimtrail-bench runs scimtrail's standard SCIM workload (issue 8) against a
// server and reports throughput, latency percentiles and errors per operation. Without
// --url it starts its own server in-process, on a temporary SQLite database or on the
// PostgreSQL database that --db names.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/scimtrail/scimtrail/internal/gcpolicy"
	"github.com/scimtrail/scimtrail/loadgen"
)

const usage = `Usage: scimtrail-bench [flags]

Runs the standard SCIM workload: create --users users, create --groups groups with
--members members each, then a mixed phase (GET by id, filter userName eq, PATCH
active, PATCH name.givenName, PUT, PATCH add+remove one group member, list pages
of 100) for --duration or --ops operations, whichever ends first. Every response
is checked; a wrong status or wrong content is an error, and any error makes the
exit status 1.

Without --url it starts scimtrail in this process on 127.0.0.1:0 (a temporary
SQLite database, or --db postgres://…) and creates a tenant and a SCIM token.

Flags:
  --url URL          SCIM base URL of a tenant, e.g. http://127.0.0.1:8080/scim/v2/acme
  --token TOKEN      SCIM bearer token for --url
  --db DSN           in-process server only: postgres://… (default: temporary SQLite)
  --concurrency N    concurrent clients (default 8)
  --users N          users to create (default 10000)
  --groups N         groups to create (default 100)
  --members N        members per group (default 50)
  --duration D       cap of the mixed phase (default 30s; 0 = none, needs --ops)
  --ops N            end the mixed phase after N operations
  --mix SPEC         weights, e.g. get=30,filter=20,patch_active=10,patch_name=10,
                     put=5,member=15,list=10 (the default)
  --seed N           seed for member choice and the operation sequence (default 1)
  --json             print the report as JSON
  --cpuprofile FILE  write a CPU profile of the whole run (server included when
                     in-process) for go tool pprof
  --profile-mixed    the CPU profile covers the mixed phase only
  --server-pid PID   with --url: also report the CPU time that process (the
                     server, on this machine) used in the mixed phase (Linux)
  --preseed          in-process only: create the users and groups through the
                     service's write path (same documents and ledger entries as
                     POST, no HTTP), --seed-concurrency at a time (default 64);
                     for 100k–1M users
  --data DIR         in-process SQLite only: keep the database in DIR (created
                     if missing, not deleted) and work in tenant "bench", so a
                     later run can reuse it; reports the store's open time
  --tenant ID        in-process only: work in tenant ID, created if missing
                     (default: a fresh bench-… tenant; "bench" with --data), so
                     that a PostgreSQL database can be seeded once and reused
  --existing         create nothing: work on the users already in the tenant
                     (listed with cursor pagination); no member operations

Every flag can also be set as SCIMTRAIL_BENCH_<FLAG>, e.g. SCIMTRAIL_BENCH_CONCURRENCY.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitErrors = 1 // the run completed and some requests failed
	exitUsage  = 2 // bad flags, or the run could not be set up
)

type options struct {
	cfg        loadgen.Config
	url, token string
	db         string
	mix        string
	json       bool
	cpuprofile string
	profMixed  bool
	preseed    bool
	data       string
	tenant     string
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	o := options{cfg: loadgen.DefaultConfig()}
	fs := flag.NewFlagSet("scimtrail-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "url", "", "")
	fs.StringVar(&o.token, "token", "", "")
	fs.StringVar(&o.db, "db", "", "")
	fs.IntVar(&o.cfg.Concurrency, "concurrency", o.cfg.Concurrency, "")
	fs.IntVar(&o.cfg.Users, "users", o.cfg.Users, "")
	fs.IntVar(&o.cfg.Groups, "groups", o.cfg.Groups, "")
	fs.IntVar(&o.cfg.MembersPerGroup, "members", o.cfg.MembersPerGroup, "")
	fs.DurationVar(&o.cfg.Duration, "duration", o.cfg.Duration, "")
	fs.IntVar(&o.cfg.Ops, "ops", 0, "")
	fs.StringVar(&o.mix, "mix", "", "")
	fs.Uint64Var(&o.cfg.Seed, "seed", o.cfg.Seed, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "")
	fs.BoolVar(&o.profMixed, "profile-mixed", false, "")
	fs.IntVar(&o.cfg.ServerPID, "server-pid", 0, "")
	fs.BoolVar(&o.preseed, "preseed", false, "")
	fs.IntVar(&o.cfg.SeedConcurrency, "seed-concurrency", o.cfg.SeedConcurrency, "")
	fs.StringVar(&o.data, "data", "", "")
	fs.StringVar(&o.tenant, "tenant", "", "")
	fs.BoolVar(&o.cfg.Existing, "existing", false, "")

	// The environment first, then the command line, so a flag wins over the environment.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SCIMTRAIL_BENCH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %w", v, name, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.mix != "" {
		m, err := loadgen.ParseMix(o.mix)
		if err != nil {
			return o, err
		}
		o.cfg.Mix = m
	}
	switch {
	case o.cfg.Concurrency < 1 || o.cfg.Concurrency > 10000:
		return o, errors.New("--concurrency must be from 1 to 10000")
	case o.cfg.Users < 1:
		return o, errors.New("--users must be at least 1")
	case o.cfg.Groups < 0 || o.cfg.MembersPerGroup < 0 || o.cfg.Ops < 0:
		return o, errors.New("--groups, --members and --ops must not be negative")
	case o.cfg.Duration < 0:
		return o, errors.New("--duration must not be negative")
	case o.cfg.Duration == 0 && o.cfg.Ops == 0:
		return o, errors.New("--duration 0 needs --ops: the mixed phase must end")
	case o.url != "" && o.db != "":
		return o, errors.New("--db starts an in-process server; it does not go with --url")
	case o.url != "" && (o.preseed || o.data != "" || o.tenant != ""):
		return o, errors.New("--preseed, --data and --tenant work on the in-process server; they do not go with --url")
	case o.data != "" && o.db != "":
		return o, errors.New("--data keeps a SQLite database; for PostgreSQL the database itself is kept")
	case o.preseed && o.cfg.Existing:
		return o, errors.New("--preseed creates users and --existing creates none: choose one")
	case o.cfg.SeedConcurrency < 1:
		return o, errors.New("--seed-concurrency must be at least 1")
	case o.url != "" && !strings.HasPrefix(o.url, "http://") && !strings.HasPrefix(o.url, "https://"):
		return o, fmt.Errorf("--url must start with http:// or https://, not %q", o.url)
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail-bench: %v\n\n%s", err, usage)
		return exitUsage
	}
	cfg := o.cfg
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "scimtrail-bench: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		start := func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "scimtrail-bench: cpu profile: %v\n", err)
			}
		}
		if o.profMixed {
			cfg.BeforeMixed = start
		} else {
			start()
		}
		defer pprof.StopCPUProfile()
	}

	cfg.BaseURL, cfg.Token = o.url, o.token
	var srv *loadgen.Server
	if o.url == "" {
		dir, tenant := o.data, o.tenant
		if tenant == "" && dir != "" {
			tenant = "bench"
		}
		if dir == "" {
			dir, err = os.MkdirTemp("", "scimtrail-bench-")
			if err == nil {
				defer os.RemoveAll(dir)
			}
		} else {
			err = os.MkdirAll(dir, 0o700)
		}
		if err != nil {
			fmt.Fprintf(stderr, "scimtrail-bench: %v\n", err)
			return exitUsage
		}
		// The garbage collector settings of `scimtrail serve`, so that the in-process
		// server runs as the real one does (GOGC/GOMEMLIMIT in the environment still win).
		gcpolicy.Apply(getenv)
		srv, err = loadgen.StartServer(ctx, loadgen.ServerConfig{DSN: o.db, Dir: dir, Tenant: tenant})
		if err != nil {
			fmt.Fprintf(stderr, "scimtrail-bench: start the in-process server: %v\n", err)
			return exitUsage
		}
		defer func() {
			if err := srv.Close(); err != nil {
				fmt.Fprintf(stderr, "scimtrail-bench: stop the in-process server: %v\n", err)
			}
		}()
		cfg.BaseURL, cfg.Token = srv.URL, srv.Token
		if o.preseed {
			cfg.Seeder = srv
		}
		if !o.json {
			fmt.Fprintf(stderr, "scimtrail-bench: the store opened in %v\n", srv.StartTime.Round(time.Millisecond))
		}
	}
	if !o.json {
		fmt.Fprintf(stderr, "scimtrail-bench: %d users, %d groups, then the mixed phase, against %s\n", cfg.Users, cfg.Groups, cfg.BaseURL)
	}
	var b0, c0 int64
	if srv != nil {
		b0, c0 = srv.BatchStats()
	}
	start := time.Now()
	rep, err := loadgen.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(stderr, "scimtrail-bench: %v\n", err)
		return exitUsage
	}
	if srv != nil {
		rep.Backend = srv.Backend + " (in-process)"
		rep.StoreOpenMs = float64(srv.StartTime) / float64(time.Millisecond)
		if o.preseed {
			rep.Backend += ", seeded through the service"
		}
		b1, c1 := srv.BatchStats()
		br := &loadgen.BatchReport{Batches: b1 - b0, Commands: c1 - c0}
		if br.Batches > 0 {
			br.CommandsPerBatch = float64(br.Commands) / float64(br.Batches)
		}
		rep.WriteBatches = br
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteTable(stdout)
		fmt.Fprintf(stdout, "total %.1fs\n", time.Since(start).Seconds())
	}
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail-bench: stopped early: %v\n", err)
		return exitErrors
	}
	if rep.Errors > 0 {
		return exitErrors
	}
	return exitOK
}
