package main

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/ledger"
)

// rewriteBundle copies the tar archive in to out, passing each member through edit, which
// returns the new content or nil to drop the member.
func rewriteBundle(tb testing.TB, in, out string, edit func(name string, data []byte) []byte) {
	tb.Helper()
	f, err := os.Open(in)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		if data = edit(hdr.Name, data); data == nil {
			continue
		}
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		tw.Write(data)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestAuditVerifyBundlePinsRewrittenEntry rewrites an entry of an exported bundle together
// with its leaf hash, which only a signed root shows. With the bundle's leaves/ member (the
// tree's level-0 tiles, exported beside the entries) verify names that very entry, as it
// does from the database; with the member removed, it can only name the first entry after
// the last checkpoint that still matches.
func TestAuditVerifyBundlePinsRewrittenEntry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "signing-key")
		setInstallID(t, dsn)
		buildLog(t, dsn, keyFile) // checkpoints at 6 and 12
		keys := filepath.Join(dir, "keys.txt")
		os.WriteFile(keys, []byte(mustCLI(t, env{}, "audit", "keys", "--signing-key", keyFile)), 0o600)
		bundle := filepath.Join(dir, "acme.tar")
		mustCLI(t, env{}, "audit", "export", "--db", dsn, "--tenant", "acme", "--out", bundle, "--signing-key", keyFile)

		const seq = 9
		var sawLeaves bool
		rewriteEntry := func(name string, data []byte) []byte {
			if strings.HasPrefix(name, "leaves/") {
				sawLeaves = true
				if len(data) != logSize*ledger.HashSize {
					t.Errorf("%s holds %d bytes, want %d leaf hashes", name, len(data), logSize)
				}
			}
			if !strings.HasPrefix(name, "entries/") {
				return data
			}
			lines := bytes.SplitAfter(data, []byte("\n"))
			line := lines[seq-1]
			i := bytes.Index(line, []byte(`"body":`)) + len(`"body":`)
			body := bytes.Replace(line[i:len(line)-2], []byte("user6@"), []byte("mallory"), 1)
			if bytes.Equal(body, line[i:len(line)-2]) {
				t.Fatalf("entry %d has no user6@: %s", seq, line)
			}
			lines[seq-1] = fmt.Appendf(nil, `{"seq":%d,"leaf_hash":"%s","body":%s}`+"\n", seq, base64.StdEncoding.EncodeToString(ledger.LeafHash(body)), body)
			return bytes.Join(lines, nil)
		}
		verify := func(path string) cliResult {
			return runCLI(t, env{}, "audit", "verify", "--bundle", path, "--keys", keys)
		}

		// The copy itself changes nothing.
		same := filepath.Join(dir, "same.tar")
		rewriteBundle(t, bundle, same, func(_ string, data []byte) []byte { return data })
		if r := verify(same); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("entries: %d", logSize)) {
			t.Fatalf("verify of the untouched bundle: exit %d (%v)\n%s", r.code, r.err, r.stdout)
		}

		for _, tc := range []struct {
			name       string
			dropLeaves bool
			wantSeq    int64
		}{{"WithLeaves", false, seq}, {"WithoutLeaves", true, 7}} {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "tampered.tar")
				rewriteBundle(t, bundle, out, func(name string, data []byte) []byte {
					if tc.dropLeaves && strings.HasPrefix(name, "leaves/") {
						return nil
					}
					return rewriteEntry(name, data)
				})
				r := verify(out)
				if r.code != 1 {
					t.Fatalf("exit %d (%v), want 1\n%s", r.code, r.err, r.stdout)
				}
				if want := fmt.Sprintf("first bad seq: %d\nkind: %s\n", tc.wantSeq, ledger.FailModified); !strings.Contains(r.stdout, want) {
					t.Errorf("verify printed:\n%s\nwant it to contain:\n%s", r.stdout, want)
				}
			})
		}
		if !sawLeaves {
			t.Error("the exported bundle has no leaves/ member")
		}
	})
}
