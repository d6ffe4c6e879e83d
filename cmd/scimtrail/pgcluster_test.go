package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// pgCluster is a throwaway PostgreSQL cluster of one test, for tests that must stop the
// database itself (the shared cluster of scripts/with-postgres must survive them). It is
// made the way scripts/with-postgres makes its cluster: initdb in a temp dir (as the
// postgres user when we are root, since PostgreSQL refuses to run as root), trust
// authentication, loopback only, the unix socket in the temp dir.
type pgCluster struct {
	tb     testing.TB
	bin    string // the server's bin directory
	dir    string // owns data/ and the socket
	port   int
	asUser []string // runuser prefix when root
}

// pgBinDir returns the highest installed PostgreSQL's bin directory, or "".
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// newPGCluster initdb's and starts a cluster on a free loopback port; it is stopped
// (immediately) and removed when the test ends.
func newPGCluster(tb testing.TB) *pgCluster {
	tb.Helper()
	bin := pgBinDir()
	if bin == "" {
		tb.Fatal("no PostgreSQL server under /usr/lib/postgresql/*/bin (scripts/with-postgres installs it)")
	}
	dir, err := os.MkdirTemp("", "scimtrail-pgkill-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &pgCluster{tb: tb, bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root needs the postgres user (the postgresql package creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	os.Chmod(dir, 0o700)
	tb.Cleanup(func() {
		c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.start()
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of the server's tools as the cluster's owner, from inside its directory
// (the postgres user may not enter the caller's).
func (c *pgCluster) run(tool string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(c.asUser), filepath.Join(c.bin, tool))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// DSN is the cluster's postgres database.
func (c *pgCluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the cluster on its port and waits until it accepts connections. fsync is
// off as in scripts/with-postgres: an immediate stop kills the server's processes, not the
// machine, so committed WAL in the page cache survives it.
func (c *pgCluster) start() {
	c.tb.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", c.port, c.dir)
	if out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// crash stops the cluster with -m immediate: every server process exits at once, without a
// checkpoint, and the next start runs crash recovery.
func (c *pgCluster) crash() {
	c.tb.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop"); err != nil {
		c.tb.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
}
