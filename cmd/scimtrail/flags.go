package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// defaultDB is where the SQLite database lives unless --db or SCIMTRAIL_DB says otherwise.
const defaultDB = "./scimtrail-data/scimtrail.db"

// command is one subcommand's flag set and usage text.
type command struct {
	m     *Main
	fs    *flag.FlagSet
	usage string
}

func (m *Main) newCommand(name, usage string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print its own terse message and a generated flag list; our
	// usage text is written by hand, so silence it and print ours.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{m: m, fs: fs, usage: usage}
}

// envName is the environment variable that backs a flag: --tls-cert is SCIMTRAIL_TLS_CERT.
func envName(flagName string) string {
	return "SCIMTRAIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies SCIMTRAIL_* environment variables first and then args, so a flag on the
// command line wins over the environment. Flags may come before or after positional
// arguments ("tenant create acme --name Acme"), which the flag package alone does not
// allow. It returns the positional arguments.
func (c *command) parse(args []string) ([]string, error) {
	var envErr error
	c.fs.VisitAll(func(f *flag.Flag) {
		v := c.m.Getenv(envName(f.Name))
		if v == "" || envErr != nil {
			return
		}
		if err := c.fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("invalid value %q for %s: %w", v, envName(f.Name), err)
		}
	})
	if envErr != nil {
		return nil, c.m.usage(c.usage, envErr)
	}
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.m.Stdout, c.usage)
				return nil, errHelp
			}
			return nil, c.m.usage(c.usage, err)
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// wantArgs checks the number of positional arguments.
func (c *command) wantArgs(got []string, names ...string) error {
	if len(got) < len(names) {
		return c.m.usage(c.usage, fmt.Errorf("missing %s", names[len(got)]))
	}
	if len(got) > len(names) {
		return c.m.usage(c.usage, fmt.Errorf("unexpected argument %q", got[len(names)]))
	}
	return nil
}

// parseExpiry reads a token lifetime: Nd (days), Nh, Nm, or any Go duration ("36h30m").
// "", "0" and "never" mean the token does not expire.
func parseExpiry(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "never":
		return 0, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		// 100 years is far beyond any sensible token lifetime and far below overflow.
		if err != nil || days <= 0 || days > 36500 {
			return 0, fmt.Errorf("%q is not a number of days between 1 and 36500", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: use Nd, Nh, Nm or a Go duration like 36h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: the lifetime must be positive", s)
	}
	return d, nil
}
