package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/ledger"
)

// exportedLine is what a test reads back from one line of `audit export --format`.
type exportedLine struct {
	seq  int64
	time time.Time // native only
}

var cefLine = regexp.MustCompile(`^CEF:0\|scimtrail\|scimtrail\|[^|]*\|([a-z_.]+)\|[a-z_.]+\|[0-9]+\|.* cs1=acme .*cn1=([0-9]+) cs2Label=leafHash cs2=([0-9a-f]{64}) `)

// parseExport parses every line of an export in format, checking what each format promises
// (native: the entry hashes to the leaf hash; ocsf: an OCSF event of the entry; cef: a CEF:0
// line naming tenant, seq and leaf hash), and returns the lines in file order.
func parseExport(t *testing.T, data []byte, format string) []exportedLine {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("the %s export does not end with a newline", format)
	}
	var out []exportedLine
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch format {
		case "native":
			var r struct {
				Tenant     string          `json:"tenant"`
				Seq        int64           `json:"seq"`
				LeafHash   string          `json:"leaf_hash"`
				Checkpoint json.RawMessage `json:"checkpoint"`
				Entry      json.RawMessage `json:"entry"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("native line %q: %v", line, err)
			}
			var e struct {
				Seq  int64     `json:"seq"`
				Time time.Time `json:"time"`
			}
			json.Unmarshal(r.Entry, &e)
			if r.Tenant != "acme" || e.Seq != r.Seq || hex.EncodeToString(ledger.LeafHash(r.Entry)) != r.LeafHash || !bytes.Contains(r.Checkpoint, []byte(`"checkpoint"`)) {
				t.Fatalf("native line %d does not hold its entry, leaf hash and checkpoint: %s", len(out)+1, line)
			}
			out = append(out, exportedLine{r.Seq, e.Time})
		case "ocsf":
			var r struct {
				Tenant string `json:"tenant"`
				Seq    int64  `json:"seq"`
				OCSF   struct {
					ClassUID int `json:"class_uid"`
				} `json:"ocsf"`
			}
			if err := json.Unmarshal(line, &r); err != nil || r.Tenant != "acme" || r.OCSF.ClassUID == 0 {
				t.Fatalf("ocsf line %q: %v", line, err)
			}
			out = append(out, exportedLine{seq: r.Seq})
		case "cef":
			m := cefLine.FindSubmatch(line)
			if m == nil {
				t.Fatalf("cef line %q is not a CEF:0 line with tenant, seq and leaf hash", line)
			}
			seq, _ := strconv.ParseInt(string(m[2]), 10, 64)
			out = append(out, exportedLine{seq: seq})
		}
	}
	return out
}

func seqsOf(lines []exportedLine) []int64 {
	var s []int64
	for _, l := range lines {
		s = append(s, l.seq)
	}
	return s
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestAuditExportFormats writes entries through the HTTP API, exports them with `audit
// export --format` in each format, parses the files back (every seq once, in order), cuts
// a file in the middle of a line as an interrupted run leaves it and resumes, resumes again
// after more writes, and exports seq and time ranges to stdout.
func TestAuditExportFormats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		_, op, keyFile := startAcmeServer(t, dsn)
		var scimTok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		scim := op.with(scimTok.Token)
		addUsers := func(from, n int) {
			for i := from; i < from+n; i++ {
				scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(fmt.Sprintf("u%d@example.com", i), "U", strconv.Itoa(i)), nil)
			}
		}
		addUsers(0, 40)
		dir := t.TempDir()
		export := func(args ...string) string {
			return mustCLI(t, env{}, append([]string{"audit", "export", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile}, args...)...)
		}

		var native []exportedLine
		for _, format := range []string{"native", "ocsf", "cef"} {
			t.Run(format, func(t *testing.T) {
				out := filepath.Join(dir, "acme."+format)
				export("--format", format, "--out", out)
				full, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				lines := parseExport(t, full, format)
				n := int64(len(lines))
				if n < 42 || !slices.Equal(seqsOf(lines), seqRange(1, n)) {
					t.Fatalf("%s export holds seqs %v, want 1…n (n ≥ 42)", format, seqsOf(lines))
				}
				if format == "native" {
					native = lines
				}

				// Interrupted in the middle of line 17: resuming cuts the half line and goes on.
				cut := 0
				for range 16 {
					cut += bytes.IndexByte(full[cut:], '\n') + 1
				}
				cut += 10
				if err := os.WriteFile(out, full[:cut], 0o600); err != nil {
					t.Fatal(err)
				}
				export("--format", format, "--out", out, "--resume")
				resumed, _ := os.ReadFile(out)
				if !bytes.Equal(resumed, full) {
					t.Fatalf("after an interrupted run and --resume the file holds seqs %v; want it byte for byte as the uninterrupted export", seqsOf(parseExport(t, resumed, format)))
				}

				// Resume again with nothing new: nothing is written twice.
				export("--format", format, "--out", out, "--resume")
				if again, _ := os.ReadFile(out); !bytes.Equal(again, full) {
					t.Fatal("--resume with nothing new changed the file")
				}
			})
		}

		// More entries, then --resume: the file ends up with every seq once, in order.
		addUsers(100, 5)
		out := filepath.Join(dir, "acme.native")
		export("--format", "native", "--out", out, "--resume", "--progress")
		data, _ := os.ReadFile(out)
		lines := parseExport(t, data, "native")
		if n := int64(len(lines)); n < int64(len(native))+5 || !slices.Equal(seqsOf(lines), seqRange(1, n)) {
			t.Fatalf("after more writes and --resume: seqs %v, want 1…%d and more", seqsOf(lines), len(native)+5)
		}

		// Without the key ring the records carry the latest stored checkpoint (parseExport
		// checks each native record has one).
		noKey := mustCLI(t, env{}, "audit", "export", "--db", dsn, "--tenant", "acme", "--format", "native", "--out", "-",
			"--signing-key", filepath.Join(dir, "no-such-key"))
		if got := parseExport(t, []byte(noKey), "native"); len(got) != len(lines) {
			t.Errorf("without the key ring: %d records, want %d", len(got), len(lines))
		}

		// Seq ranges, to stdout; --until is inclusive.
		got := parseExport(t, []byte(export("--format", "cef", "--out", "-", "--since", "5", "--until", "9")), "cef")
		if !slices.Equal(seqsOf(got), seqRange(5, 9)) {
			t.Errorf("--since 5 --until 9: seqs %v, want 5…9", seqsOf(got))
		}
		// A time range: from entry 20's time on, before entry 30's, exactly the entries
		// whose times are in [t20, t30).
		t20, t30 := native[19].time, native[29].time
		got = parseExport(t, []byte(export("--format", "native", "--out", "-",
			"--since", t20.Format(time.RFC3339Nano), "--until", t30.Format(time.RFC3339Nano))), "native")
		var want []int64
		for _, l := range lines {
			if !l.time.Before(t20) && l.time.Before(t30) {
				want = append(want, l.seq)
			}
		}
		if len(want) == 0 || !slices.Equal(seqsOf(got), want) {
			t.Errorf("time range [%v, %v): seqs %v, want %v", t20, t30, seqsOf(got), want)
		}

		// Bad input: a clear usage error (exit 2), and no file touched.
		for _, args := range [][]string{
			{"--format", "xml", "--out", filepath.Join(dir, "x")},
			{"--format", "cef", "--out", "-", "--resume"},
			{"--format", "cef", "--out", "-", "--since", "yesterday"},
			{"--out", "-", "--since", "3"}, // a bundle is always whole
		} {
			r := runCLI(t, env{}, append([]string{"audit", "export", "--db", dsn, "--tenant", "acme"}, args...)...)
			if r.code != 2 {
				t.Errorf("audit export %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			t.Error("a refused export created its file")
		}
		// --resume onto a file of another format is refused and leaves it alone.
		cefOut := filepath.Join(dir, "acme.cef")
		before, _ := os.ReadFile(cefOut)
		if r := runCLI(t, env{}, "audit", "export", "--db", dsn, "--tenant", "acme", "--format", "native", "--out", cefOut, "--resume"); r.code == 0 {
			t.Error("--resume of a native export onto a CEF file: exit 0")
		}
		if after, _ := os.ReadFile(cefOut); !bytes.Equal(after, before) {
			t.Error("a refused --resume changed the file")
		}
	})
}
