package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/loadgen"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestFlagsFromEnvironment checks that SCIMTRAIL_BENCH_* sets a flag and that the command
// line wins over it.
func TestFlagsFromEnvironment(t *testing.T) {
	o, err := parseFlags([]string{"--users", "7"}, env(map[string]string{
		"SCIMTRAIL_BENCH_USERS":       "99",
		"SCIMTRAIL_BENCH_CONCURRENCY": "3",
		"SCIMTRAIL_BENCH_MIX":         "get=1",
	}))
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if got, want := o.cfg.Users, 7; got != want {
		t.Errorf("users = %d, want %d (the flag wins)", got, want)
	}
	if got, want := o.cfg.Concurrency, 3; got != want {
		t.Errorf("concurrency = %d, want %d (from the environment)", got, want)
	}
	if got, want := o.cfg.Mix, (loadgen.Mix{Get: 1}); got != want {
		t.Errorf("mix = %+v, want %+v", got, want)
	}
}

func TestBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--duration", "0"},
		{"--mix", "get=x"},
		{"--url", "ftp://x"},
		{"--url", "http://127.0.0.1:1/scim/v2/t", "--db", "postgres://x"},
		{"extra"},
		{"--url", "http://127.0.0.1:1/scim/v2/t", "--preseed"},
		{"--preseed", "--existing"},
		{"--data", "/tmp/x", "--db", "postgres://x"},
		{"--seed-concurrency", "0"},
		{"--url", "http://127.0.0.1:1/scim/v2/t", "--tenant", "x"},
	} {
		var out, errb bytes.Buffer
		if got := run(t.Context(), args, env(nil), &out, &errb); got != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, got, exitUsage)
		}
	}
}

// TestInProcessJSON runs the tool end to end on its own server and reads its JSON.
func TestInProcessJSON(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"--users", "30", "--groups", "2", "--members", "5", "--ops", "60", "--concurrency", "2", "--json"}
	if got := run(t.Context(), args, env(nil), &out, &errb); got != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s\nstdout:\n%s", got, errb.String(), out.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out.String())
	}
	if rep.Errors != 0 || len(rep.Phases) != 3 || !strings.HasPrefix(rep.Backend, "sqlite") {
		t.Errorf("report: errors %d, %d phases, backend %q; want 0, 3, sqlite…", rep.Errors, len(rep.Phases), rep.Backend)
	}
	if rep.WriteBatches == nil || rep.WriteBatches.Commands < 30 {
		t.Errorf("write batches %+v: want at least the 30 creates", rep.WriteBatches)
	}
}

// TestPreseedKeepAndReuse seeds a kept database, then runs again on its users only.
func TestPreseedKeepAndReuse(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	args := []string{"--users", "40", "--groups", "2", "--members", "5", "--ops", "40", "--concurrency", "2", "--preseed", "--data", dir, "--json"}
	if got := run(t.Context(), args, env(nil), &out, &errb); got != exitOK {
		t.Fatalf("seeding run: exit %d; stderr:\n%s\nstdout:\n%s", got, errb.String(), out.String())
	}
	out.Reset()
	args = []string{"--existing", "--ops", "40", "--concurrency", "2", "--mix", "get=1,filter=1,list=1", "--data", dir, "--json"}
	if got := run(t.Context(), args, env(nil), &out, &errb); got != exitOK {
		t.Fatalf("reusing run: exit %d; stderr:\n%s\nstdout:\n%s", got, errb.String(), out.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out.String())
	}
	if rep.Users != 40 || rep.Errors != 0 || rep.StoreOpenMs <= 0 {
		t.Errorf("reusing run: %d users, %d errors, store opened in %v ms; want 40, 0, > 0", rep.Users, rep.Errors, rep.StoreOpenMs)
	}
}
