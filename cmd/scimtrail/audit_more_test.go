package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

// TestAuditKeysRotate rotates the signing key of a running install with `audit keys rotate`:
// checkpoints signed before still verify, new ones are signed with the new key only, and
// /api/v1/audit/keys serves both keys, the same ones the CLI prints.
func TestAuditKeysRotate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		keyFile := filepath.Join(t.TempDir(), "signing-key")
		operator := randomToken()
		e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}
		serve := func() (*server, client) {
			s := startServer(t, e, dsn, "--checkpoint-interval", "1h", "--signing-key", keyFile)
			return s, client{tb: t, base: s.URL, token: operator}
		}
		addUsers := func(op client, from, n int) {
			for i := from; i < from+n; i++ {
				op.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(fmt.Sprintf("u%d@example.com", i), "U", fmt.Sprint(i)), nil)
			}
		}

		s, op := serve()
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scimTok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		addUsers(op.with(scimTok.Token), 0, 5)
		var before proofResp
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &before)
		var oldKeys struct{ Keys []string }
		client{tb: t, base: s.URL}.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &oldKeys)
		if len(oldKeys.Keys) != 1 {
			t.Fatalf("keys before rotation: %q, want one", oldKeys.Keys)
		}
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}

		printed := strings.Fields(mustCLI(t, env{}, "audit", "keys", "rotate", "--db", dsn, "--signing-key", keyFile))
		if len(printed) != 2 || !slices.Contains(printed, oldKeys.Keys[0]) {
			t.Fatalf("audit keys rotate printed %q, want the old key %q and a new one", printed, oldKeys.Keys[0])
		}
		newKey := printed[0]
		if newKey == oldKeys.Keys[0] {
			newKey = printed[1]
		}
		if got := strings.Fields(mustCLI(t, env{}, "audit", "keys", "--db", dsn, "--signing-key", keyFile)); !slices.Equal(got, printed) {
			t.Errorf("audit keys after rotation printed %q, want %q", got, printed)
		}

		s, op = serve()
		var keys struct{ Keys []string }
		client{tb: t, base: s.URL}.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &keys)
		if !slices.Equal(slices.Sorted(slices.Values(keys.Keys)), slices.Sorted(slices.Values(printed))) {
			t.Errorf("served keys %q, want %q", keys.Keys, printed)
		}
		addUsers(op.with(scimTok.Token), 5, 3)
		var after proofResp
		op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &after)
		origin, _, _ := strings.Cut(after.Note, "\n")

		// The old checkpoint opens with the old key alone, the new one with the new key alone.
		signedTree(t, []byte(before.Note), mustVerifiers(t, oldKeys.Keys), origin)
		afterSize, _ := signedTree(t, []byte(after.Note), mustVerifiers(t, []string{newKey}), origin)
		if _, err := note.Open([]byte(after.Note), mustVerifiers(t, oldKeys.Keys)); err == nil {
			t.Error("the checkpoint signed after rotation opens with the retired key")
		}
		if afterSize <= before.Size {
			t.Fatalf("checkpoint after rotation has size %d, before %d", afterSize, before.Size)
		}

		// The whole log, with checkpoints under both keys, verifies with the ring's keys and
		// with the served keys; and the old checkpoint is a trusted prefix of it.
		trusted := filepath.Join(t.TempDir(), "trusted.note")
		os.WriteFile(trusted, []byte(before.Note), 0o600)
		out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile, "--trusted-checkpoint", trusted)
		if !strings.Contains(out, "checkpoints: 2 (signed up to "+fmt.Sprint(afterSize)+")") || !strings.Contains(out, "consistent with the trusted checkpoint") {
			t.Errorf("verify after rotation:\n%s", out)
		}
		mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--keys", s.URL+"/api/v1/audit/keys")

		// Without the retired key the old checkpoint no longer verifies: it really was
		// signed with that key, and verify says so.
		onlyNew := filepath.Join(t.TempDir(), "new.keys")
		os.WriteFile(onlyNew, []byte(newKey+"\n"), 0o600)
		r := runCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--keys", onlyNew)
		if want := fmt.Sprintf("first bad seq: %d\nkind: %s\n", before.Size, ledger.FailBadSignature); r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("verify with the new key only: exit %d\n%s\nwant exit 1 and:\n%s", r.code, r.stdout, want)
		}
	})
}

// TestBackfillTilesAfterUpgrade simulates a log written before migration 00002 added
// ledger tiles: the tile rows are deleted, and `scimtrail migrate` must write them again,
// byte for byte, so that verify and proofs work.
func TestBackfillTilesAfterUpgrade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		keyFile := filepath.Join(t.TempDir(), "signing-key")
		setInstallID(t, dsn)
		buildLog(t, dsn, keyFile)
		// More than a full tile, so that level 1 has a tile too.
		const extra = 300
		withService(t, dsn, keyFile, func(svc *service.Service) {
			o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
			for i := range extra {
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"more%d@example.com"}`, i)
				if _, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := svc.Checkpoint(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
		})
		const size = logSize + extra
		type tileKey struct{ level, index int64 }
		want := map[tileKey][]byte{{0, 0}: nil, {0, 1}: nil, {1, 0}: nil}
		readTiles := func() map[tileKey][]byte {
			got := map[tileKey][]byte{}
			withService(t, dsn, keyFile, func(svc *service.Service) {
				for k := range want {
					b, err := svc.Tile(ctx, "acme", ledger.TileAddr{Level: k.level, Index: k.index, Width: tileWidth(k.level, k.index, size)})
					if err != nil && scimtrail.ErrorCode(err) != scimtrail.ENOTFOUND {
						t.Fatal(err)
					}
					got[k] = b
				}
			})
			return got
		}
		want = readTiles()
		for k, b := range want {
			if len(b) == 0 {
				t.Fatalf("tile %v is missing before the simulated upgrade", k)
			}
		}

		openRaw(t, dsn).exec(`DELETE FROM ledger_tiles`)
		if got := readTiles(); got[tileKey{0, 0}] != nil {
			t.Fatal("tiles still served after deleting them")
		}
		if out := mustCLI(t, env{}, "migrate", "--db", dsn); !strings.Contains(out, "is migrated") {
			t.Errorf("migrate printed %q", out)
		}
		for k, b := range readTiles() {
			if !bytes.Equal(b, want[k]) {
				t.Errorf("tile %v after backfill differs from the tile the write path stored", k)
			}
		}

		out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
		if !strings.Contains(out, fmt.Sprintf("entries: %d", size)) {
			t.Errorf("verify after backfill:\n%s", out)
		}
		withService(t, dsn, keyFile, func(svc *service.Service) {
			cp, err := svc.Checkpoint(ctx, "acme")
			if err != nil || cp.Size != size {
				t.Fatalf("checkpoint size %d, %v; want %d", cp.Size, err, size)
			}
			for _, seq := range []int64{1, 6, 256, 257, size} {
				p, err := svc.InclusionProof(ctx, "acme", seq, size)
				if err != nil {
					t.Fatalf("inclusion proof of %d: %v", seq, err)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), uint64(size), p.LeafHash, p.Hashes, cp.Root); err != nil {
					t.Errorf("inclusion proof of %d after backfill: %v", seq, err)
				}
			}
			old, err := svc.Checkpoints(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.ConsistencyProof(ctx, "acme", old[0].Size, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old[0].Size), uint64(size), p.Hashes, old[0].Root, cp.Root); err != nil {
				t.Errorf("consistency proof %d→%d after backfill: %v", old[0].Size, size, err)
			}
		})
	})
}

// tileWidth is the width of tile (level, index) in a tree of size leaves.
func tileWidth(level, index, size int64) int {
	n := size>>(ledger.TileHeight*level) - index*ledger.TileWidth
	return int(min(n, ledger.TileWidth))
}

// withService runs fn with a Service over the database at dsn that signs with the key ring
// in keyFile.
func withService(tb testing.TB, dsn, keyFile string, fn func(*service.Service)) {
	tb.Helper()
	store, err := openStore(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	text, err := os.ReadFile(keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		tb.Fatal(err)
	}
	fn(service.New(store, service.Options{Keys: ring}))
}

// TestAuditVerifyTrustedCheckpointCatchesRewrite rewrites a tenant's history the way an
// operator holding the signing key could: every entry, leaf hash, tile and checkpoint
// replaced by a consistent, validly signed log of different content. Only a checkpoint the
// customer saved earlier tells them apart: verify exits 1 with "not consistent with the
// trusted checkpoint".
func TestAuditVerifyTrustedCheckpointCatchesRewrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		keyFile := filepath.Join(t.TempDir(), "signing-key")
		setInstallID(t, dsn)
		buildLog(t, dsn, keyFile)
		raw := openRaw(t, dsn)
		trusted := filepath.Join(t.TempDir(), "trusted.note")
		os.WriteFile(trusted, raw.bytes(`SELECT note FROM checkpoints WHERE tenant = 'acme' AND size = 6`), 0o600)
		mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile, "--trusted-checkpoint", trusted)

		// Rewrite: drop acme's log and tenant state and write another history in its place,
		// signed with the same key.
		for _, table := range []string{"ledger_entries", "ledger_tiles", "ledger_heads", "checkpoints", "resources", "tokens"} {
			raw.exec(`DELETE FROM ` + table + ` WHERE tenant = 'acme'`)
		}
		raw.exec(`DELETE FROM tenants WHERE id = 'acme'`)
		withService(t, dsn, keyFile, func(svc *service.Service) {
			o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
			if _, _, err := svc.CreateTenant(ctx, o, "acme", "Acme, rewritten"); err != nil {
				t.Fatal(err)
			}
			for i := range logSize - 1 {
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"other%d@example.com"}`, i)
				if _, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			if cp, err := svc.Checkpoint(ctx, "acme"); err != nil || cp.Size != logSize {
				t.Fatalf("checkpoint of the rewritten log: size %d, %v", cp.Size, err)
			}
		})

		// The rewritten log verifies on its own …
		mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
		// … but not against the checkpoint the customer saved.
		r := runCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile, "--trusted-checkpoint", trusted)
		if r.code != 1 {
			t.Fatalf("exit %d (%v), want 1\n%s", r.code, r.err, r.stdout)
		}
		if want := fmt.Sprintf("kind: %s\n", ledger.FailInconsistent); !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "first bad seq: 1\n") {
			t.Errorf("verify printed:\n%s\nwant first bad seq 1 and %q", r.stdout, want)
		}
	})
}
