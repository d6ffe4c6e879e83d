package loadgen_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/loadgen"
	"github.com/scimtrail/scimtrail/postgres/pgtest"
)

// tinyConfig is the standard workload scaled down so that a test run takes well under a
// second; Duration is a safety cap only, the run ends after Ops operations.
func tinyConfig(url, token string) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.BaseURL, cfg.Token = url, token
	cfg.Users, cfg.Groups, cfg.MembersPerGroup = 50, 3, 10
	cfg.Concurrency = 4
	cfg.Ops = 200
	cfg.Duration = time.Minute
	return cfg
}

func opStats(t *testing.T, rep *loadgen.Report, phase, op string) loadgen.OpStats {
	t.Helper()
	for _, p := range rep.Phases {
		for _, o := range p.Ops {
			if p.Name == phase && o.Op == op {
				return o
			}
		}
	}
	return loadgen.OpStats{Phase: phase, Op: op}
}

// TestRunInProcessSQLite runs the whole workload against the real server and checks that
// every response was right and that the counts add up.
func TestRunInProcessSQLite(t *testing.T) {
	srv, err := loadgen.StartServer(t.Context(), loadgen.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	_, cmdsBefore := srv.BatchStats()
	cfg := tinyConfig(srv.URL, srv.Token)
	rep, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Errors != 0 {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Fatalf("%d errors:\n%s", rep.Errors, b.String())
	}
	if got, want := opStats(t, rep, loadgen.PhaseCreate, loadgen.OpCreateUser).Count, int64(cfg.Users); got != want {
		t.Errorf("create_user count = %d, want %d", got, want)
	}
	if got, want := opStats(t, rep, loadgen.PhaseGroups, loadgen.OpCreateGroup).Count, int64(cfg.Groups); got != want {
		t.Errorf("create_group count = %d, want %d", got, want)
	}
	// One pick of the mix is one operation, except that a member pick makes two requests.
	var picks, writes int64
	for _, op := range []string{loadgen.OpGet, loadgen.OpFilter, loadgen.OpPatchActive, loadgen.OpPatchName, loadgen.OpPut, loadgen.OpGroupAdd, loadgen.OpList} {
		o := opStats(t, rep, loadgen.PhaseMixed, op)
		if o.Count == 0 {
			t.Errorf("%s never ran in %d operations", op, cfg.Ops)
		}
		if o.OpsPerSec <= 0 || o.P50Ms <= 0 || o.P50Ms > o.P99Ms || o.P99Ms > o.P999Ms || o.P999Ms > o.MaxMs {
			t.Errorf("%s: implausible statistics %+v", op, o)
		}
		picks += o.Count
	}
	if picks != int64(cfg.Ops) {
		t.Errorf("mixed operations = %d, want %d", picks, cfg.Ops)
	}
	add, remove := opStats(t, rep, loadgen.PhaseMixed, loadgen.OpGroupAdd), opStats(t, rep, loadgen.PhaseMixed, loadgen.OpGroupRemove)
	if add.Count != remove.Count {
		t.Errorf("group_add %d but group_remove %d: they come in pairs", add.Count, remove.Count)
	}
	for _, op := range []string{loadgen.OpPatchActive, loadgen.OpPatchName, loadgen.OpPut, loadgen.OpGroupAdd, loadgen.OpGroupRemove} {
		writes += opStats(t, rep, loadgen.PhaseMixed, op).Count
	}
	writes += int64(cfg.Users + cfg.Groups)
	// Every acknowledged write went through the store's write path (a member add that
	// found the member already there may still commit a command), so the store ran at
	// least that many commands.
	if _, cmds := srv.BatchStats(); cmds-cmdsBefore < writes {
		t.Errorf("the store committed %d commands for %d acknowledged writes", cmds-cmdsBefore, writes)
	}
}

func TestRunRejectsUnboundedMixedPhase(t *testing.T) {
	cfg := tinyConfig("http://127.0.0.1:1/scim/v2/x", "t")
	cfg.Ops, cfg.Duration = 0, 0
	if _, err := loadgen.Run(t.Context(), cfg); err == nil {
		t.Fatal("Run accepted a mixed phase with neither Ops nor Duration")
	}
}

func TestParseMix(t *testing.T) {
	m, err := loadgen.ParseMix("get=3, list=1")
	if err != nil {
		t.Fatalf("ParseMix: %v", err)
	}
	if got, want := m, (loadgen.Mix{Get: 3, List: 1}); got != want {
		t.Errorf("ParseMix = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "get=0", "frobnicate=1", "get=-1", "get", "get=x"} {
		if _, err := loadgen.ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted it", bad)
		}
	}
}

// TestSeedThenReuseExisting seeds users and groups through the service, then reopens the
// kept database and runs on the users it finds there, as a 1M-user run does.
func TestSeedThenReuseExisting(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSeedThenReuse(t, loadgen.ServerConfig{Dir: t.TempDir(), Tenant: "bench"}) })
	if pgtest.DSN() != "" {
		t.Run("postgres", func(t *testing.T) {
			testSeedThenReuse(t, loadgen.ServerConfig{DSN: pgtest.Schema(t, "loadgen"), Tenant: "bench"})
		})
	}
}

func testSeedThenReuse(t *testing.T, sc loadgen.ServerConfig) {
	srv, err := loadgen.StartServer(t.Context(), sc)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	_, cmdsBefore := srv.BatchStats()
	cfg := tinyConfig(srv.URL, srv.Token)
	cfg.Seeder, cfg.SeedConcurrency = srv, 16
	rep, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Errors != 0 {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Fatalf("%d errors:\n%s", rep.Errors, b.String())
	}
	if got, want := opStats(t, rep, loadgen.PhaseCreate, loadgen.OpCreateUser).Count, int64(cfg.Users); got != want {
		t.Errorf("seeded users = %d, want %d", got, want)
	}
	// Seeding is the write path: one store command per created resource at least.
	if _, cmds := srv.BatchStats(); cmds-cmdsBefore < int64(cfg.Users+cfg.Groups) {
		t.Errorf("the store committed %d commands for %d seeded resources", cmds-cmdsBefore, cfg.Users+cfg.Groups)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	srv, err = loadgen.StartServer(t.Context(), sc)
	if err != nil {
		t.Fatalf("StartServer on the kept database: %v", err)
	}
	defer srv.Close()
	if srv.StartTime <= 0 {
		t.Errorf("StartTime = %v, want the measured open time", srv.StartTime)
	}
	again := tinyConfig(srv.URL, srv.Token)
	again.Users, again.Existing = 0, true
	again.ServerPID = os.Getpid() // the in-process server is this process
	again.Ops = 600               // tens of ms of CPU at least, well above /proc's 10 ms tick
	rep, err = loadgen.Run(t.Context(), again)
	if err != nil {
		t.Fatalf("Run on existing users: %v", err)
	}
	if rep.Errors != 0 {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Fatalf("%d errors:\n%s", rep.Errors, b.String())
	}
	if got, want := rep.Users, cfg.Users; got != want {
		t.Errorf("found %d existing users, want %d", got, want)
	}
	if got := opStats(t, rep, loadgen.PhaseDiscover, loadgen.OpDiscover).Count; got < 1 {
		t.Errorf("discover pages = %d, want at least 1", got)
	}
	if got := opStats(t, rep, loadgen.PhaseMixed, loadgen.OpGet).Count; got == 0 {
		t.Error("no GETs ran on the existing users")
	}
	if p := rep.Phases[len(rep.Phases)-1]; p.Name != loadgen.PhaseMixed || p.CPUSec <= 0 || p.ServerCPUSec <= 0 {
		t.Errorf("last phase %q used %v s of CPU, %v s by the server pid; want the mixed phase, > 0", p.Name, p.CPUSec, p.ServerCPUSec)
	}
	if got := opStats(t, rep, loadgen.PhaseMixed, loadgen.OpGroupAdd).Count; got != 0 {
		t.Errorf("%d member operations ran without known groups", got)
	}
}
