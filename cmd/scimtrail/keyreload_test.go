package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// startAcmeServer starts serve on dsn with its signing key ring in a file of the test's
// (returned, for the CLI) and checkpoints signed on demand only, and creates tenant acme.
func startAcmeServer(t *testing.T, dsn string) (*server, client, string) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "signing-key")
	operator := randomToken()
	s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--signing-key", keyFile, "--checkpoint-interval", "1h")
	op := client{tb: t, base: s.URL, token: operator}
	op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
	return s, op, keyFile
}

// TestServeReloadsSigningKeyOnSIGHUP rotates the signing key of a running server with
// `audit keys rotate` and sends the process SIGHUP, as an operator would: the server then
// serves the new key (the old one retired), signs the next checkpoint with the new key
// only, and the whole log, signed by both, still verifies.
func TestServeReloadsSigningKeyOnSIGHUP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s, op, keyFile := startAcmeServer(t, dsn)
		anon := client{tb: t, base: s.URL}

		var before struct{ Keys []string }
		anon.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &before)
		var cp1 proofResp
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &cp1)
		origin, _, _ := strings.Cut(cp1.Note, "\n")

		rotated := mustCLI(t, env{}, "audit", "keys", "rotate", "--signing-key", keyFile)
		newKey, _, _ := strings.Cut(rotated, "\n")
		if len(before.Keys) != 1 || newKey == before.Keys[0] {
			t.Fatalf("keys before %v, rotated to %q", before.Keys, newKey)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		// The signal is handled asynchronously; allow a loaded machine plenty of time.
		var after struct{ Keys []string }
		for deadline := time.Now().Add(30 * time.Second); ; {
			anon.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &after)
			if slices.Equal(after.Keys, []string{newKey, before.Keys[0]}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after SIGHUP the server serves keys %v, want [%s %s]\nstderr:\n%s", after.Keys, newKey, before.Keys[0], s.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}

		// A change, then a checkpoint: signed by the new key, not by the old one.
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "auditor"}, nil)
		var cp2 proofResp
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &cp2)
		if cp2.Note == cp1.Note {
			t.Fatal("no new checkpoint after a change")
		}
		signedTree(t, []byte(cp2.Note), mustVerifiers(t, []string{newKey}), origin)
		if _, err := note.Open([]byte(cp2.Note), mustVerifiers(t, before.Keys)); err == nil {
			t.Error("the checkpoint after SIGHUP verifies with the old key")
		}
		signedTree(t, []byte(cp1.Note), mustVerifiers(t, []string{before.Keys[0]}), origin)

		out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
		if !strings.Contains(out, "OK "+origin) || !strings.Contains(out, "checkpoints: 2") {
			t.Errorf("verify after the rotation:\n%s", out)
		}
		if !strings.Contains(s.stderr.String(), "reloaded the checkpoint signing key ring") {
			t.Errorf("serve logged no reload:\n%s", s.stderr)
		}
	})
}
