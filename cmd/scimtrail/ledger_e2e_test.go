package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// signedTree opens a checkpoint note with the served keys and returns its size and root,
// parsed here by hand from the C2SP text so the test does not trust our own parser.
func signedTree(tb testing.TB, msg []byte, verifiers note.Verifiers, origin string) (int64, []byte) {
	tb.Helper()
	n, err := note.Open(msg, verifiers)
	if err != nil {
		tb.Fatalf("open checkpoint %q: %v", msg, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		tb.Fatalf("checkpoint text %q: want origin %q, size, root", n.Text, origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		tb.Fatal(err)
	}
	return size, root
}

// httpTiles is an independent tlog.TileReader over /logs/{tenant}/tile/…: Go's sumdb tile
// paths carry the tile height, C2SP paths do not.
type httpTiles struct {
	c      client
	tenant string
}

func (r httpTiles) Height() int { return 8 }
func (r httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		status, b := r.c.do("GET", "/logs/"+r.tenant+"/"+p, nil)
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", p, status, b)
		}
		out[i] = b
	}
	return out, nil
}
func (r httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func b64d(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func b64s(tb testing.TB, ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = b64d(tb, s)
	}
	return out
}

type proofResp struct {
	Seq      int64     `json:"seq"`
	LeafHash string    `json:"leaf_hash"`
	Size     int64     `json:"size"`
	Root     string    `json:"root"`
	Hashes   []string  `json:"hashes"`
	From     int64     `json:"from"`
	Note     string    `json:"checkpoint"`
	Signed   time.Time `json:"signed"`
}

// TestLedgerEndToEnd drives the ledger's HTTP surfaces and CLI on a real server: signed
// checkpoints, proofs checked with transparency-dev/merkle/proof, tiles read back with
// golang.org/x/mod/sumdb/tlog, receipts on writes, tenant isolation, logged audit reads, and
// export + offline verify of the bundle.
func TestLedgerEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		operator := randomToken()
		s := startServer(t, env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}, dsn, "--checkpoint-interval", "1h")
		op := client{tb: t, base: s.URL, token: operator}
		for _, id := range []string{"acme", "globex"} {
			op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": id}, nil)
		}
		var scimTok, auditor, foreign issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scimTok)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "auditor"}, &auditor)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/globex/tokens", map[string]string{"kind": "auditor"}, &foreign)
		scim, aud := op.with(scimTok.Token), op.with(auditor.Token)

		// The keys need no token.
		var keys struct{ Keys []string }
		client{tb: t, base: s.URL}.must(http.StatusOK, "GET", "/api/v1/audit/keys", nil, &keys)
		verifiers := mustVerifiers(t, keys.Keys)

		var first proofResp
		aud.must(http.StatusOK, "GET", "/api/v1/tenants/acme/audit/checkpoint", nil, &first)
		origin, _, _ := strings.Cut(first.Note, "\n")
		if !strings.HasPrefix(origin, "scimtrail/") || !strings.HasSuffix(origin, "/acme") {
			t.Fatalf("origin %q, want scimtrail/<install-id>/acme", origin)
		}
		firstSize, firstRoot := signedTree(t, []byte(first.Note), verifiers, origin)
		// The signing time is stored with the checkpoint (it was signed just now, on demand).
		if d := time.Since(first.Signed); d < -time.Minute || d > 10*time.Minute {
			t.Fatalf("checkpoint signed at %v, want about now", first.Signed)
		}

		// More than one full tile of entries.
		for i := range 258 {
			scim.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(fmt.Sprintf("u%d@example.com", i), "U", strconv.Itoa(i)), nil)
		}

		// The vendor's app records its own admin actions in the same log (issue 10); they
		// are exported and verified offline below with everything else.
		var appTok issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "app"}, &appTok)
		var recorded struct {
			Events []struct {
				Seq int64 `json:"seq"`
			} `json:"events"`
		}
		op.with(appTok.Token).must(http.StatusCreated, "POST", "/api/v1/tenants/acme/events", map[string]any{"events": []map[string]any{
			{"action": "app.sso_settings_changed", "occurred_at": "2026-11-29T06:00:00Z", "actor": map[string]any{"id": "admin-7"}},
			{"action": "app.data_exported", "occurred_at": "2026-11-29T06:01:00Z", "actor": map[string]any{"id": "admin-7", "on_behalf_of": "cust-1"}},
		}}, &recorded)
		if len(recorded.Events) != 2 || recorded.Events[1].Seq != recorded.Events[0].Seq+1 {
			t.Fatalf("app events recorded as %+v, want two consecutive seqs", recorded.Events)
		}
		// Their tiles are written with them: a proof in the tree that ends with them, before
		// any other write, works (it once failed until another write rebuilt the tiles).
		{
			last := recorded.Events[1].Seq
			var ip proofResp
			aud.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/acme/audit/proof/inclusion?seq=%d&size=%d", last, last), nil, &ip)
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(last-1), uint64(last), b64d(t, ip.LeafHash), b64s(t, ip.Hashes), b64d(t, ip.Root)); err != nil {
				t.Fatalf("inclusion proof of app event %d: %v", last, err)
			}
		}

		// A receipt: the new entry's inclusion proof against a checkpoint covering it.
		req, _ := http.NewRequest("POST", s.URL+"/scim/v2/acme/Users?receipt=1", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"receipt@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+scimTok.Token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seq, _ := strconv.ParseInt(resp.Header.Get("Scimtrail-Audit-Seq"), 10, 64)
		var rc proofResp
		if err := json.Unmarshal(b64d(t, resp.Header.Get("Scimtrail-Receipt")), &rc); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("receipt %q, status %d: %v", resp.Header.Get("Scimtrail-Receipt"), resp.StatusCode, err)
		}
		size, root := signedTree(t, []byte(rc.Note), verifiers, origin)
		if rc.Seq != seq || size < seq {
			t.Fatalf("receipt for seq %d covers %d in a tree of %d", seq, rc.Seq, size)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), uint64(size), b64d(t, rc.LeafHash), b64s(t, rc.Hashes), root); err != nil {
			t.Fatalf("receipt proof: %v", err)
		}

		// The latest checkpoint, as tlog-tiles serves it.
		status, cpNote := aud.do("GET", "/logs/acme/checkpoint", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /logs/acme/checkpoint: %d %s", status, cpNote)
		}
		size, root = signedTree(t, cpNote, verifiers, origin)
		if size != seq {
			t.Fatalf("checkpoint size %d, want %d", size, seq)
		}

		// Tiles, read and authenticated against the signed root by an independent reader.
		var th tlog.Hash
		copy(th[:], root)
		tree := tlog.Tree{N: size, Hash: th}
		thr := tlog.TileHashReader(tree, httpTiles{aud, "acme"})
		if got, err := tlog.TreeHash(size, thr); err != nil || got != th {
			t.Fatalf("tlog.TreeHash over the served tiles = %x, %v; want %x", got, err, root)
		}
		entries := aud.auditBodies("acme")
		for _, i := range []int64{0, 1, 255, 256, size - 1} {
			p, err := tlog.ProveRecord(size, i, thr)
			if err != nil {
				t.Fatalf("tlog.ProveRecord(%d): %v", i, err)
			}
			if err := tlog.CheckRecord(p, size, th, i, tlog.RecordHash(entries[i])); err != nil {
				t.Fatalf("tlog.CheckRecord(%d): %v", i, err)
			}
			// The same leaf through our proof endpoint, checked with transparency-dev.
			var ip proofResp
			aud.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/acme/audit/proof/inclusion?seq=%d&size=%d", i+1, size), nil, &ip)
			leaf := rfc6962.DefaultHasher.HashLeaf(entries[i])
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), leaf, b64s(t, ip.Hashes), root); err != nil {
				t.Fatalf("inclusion proof of seq %d: %v", i+1, err)
			}
		}
		// The entry bundle holds exactly the hashed bodies, length-prefixed (C2SP).
		status, bundle := aud.do("GET", "/logs/acme/tile/entries/000", nil)
		if status != http.StatusOK {
			t.Fatalf("entry bundle: %d %s", status, bundle)
		}
		for i := 0; i < 256; i++ {
			n := int(binary.BigEndian.Uint16(bundle))
			if !bytes.Equal(bundle[2:2+n], entries[i]) {
				t.Fatalf("entry bundle item %d differs from entry %d", i, i+1)
			}
			bundle = bundle[2+n:]
		}
		if len(bundle) != 0 {
			t.Fatalf("entry bundle has %d bytes after 256 entries", len(bundle))
		}
		if status, _ := aud.do("GET", "/logs/acme/tile/0/009", nil); status != http.StatusNotFound {
			t.Errorf("a tile beyond the tree: status %d, want 404", status)
		}

		// Consistency between the first checkpoint and the latest.
		var cp proofResp
		aud.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/acme/audit/proof/consistency?from=%d&to=%d", firstSize, size), nil, &cp)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(firstSize), uint64(size), b64s(t, cp.Hashes), firstRoot, root); err != nil {
			t.Fatalf("consistency proof %d→%d: %v", firstSize, size, err)
		}
		for _, bad := range []string{"inclusion?seq=0", fmt.Sprintf("inclusion?seq=1&size=%d", size+100), "consistency?from=5&to=4", "consistency"} {
			if status, b := aud.do("GET", "/api/v1/tenants/acme/audit/proof/"+bad, nil); status != http.StatusBadRequest {
				t.Errorf("proof/%s: status %d, want 400; %s", bad, status, b)
			}
		}

		// Another tenant's auditor, a SCIM token and no token learn nothing.
		for _, path := range []string{"/logs/acme/checkpoint", "/logs/acme/tile/0/000", "/api/v1/tenants/acme/audit/checkpoint"} {
			if status, _ := op.with(foreign.Token).do("GET", path, nil); status != http.StatusNotFound {
				t.Errorf("globex auditor GET %s: status %d, want 404", path, status)
			}
			if status, _ := op.with(foreign.Token).do("GET", strings.Replace(path, "acme", "nosuch", 1), nil); status != http.StatusNotFound {
				t.Errorf("globex auditor GET of a missing tenant: status %d, want 404", status)
			}
			if status, _ := scim.do("GET", path, nil); status != http.StatusForbidden {
				t.Errorf("SCIM token GET %s: status %d, want 403", path, status)
			}
			if status, _ := (client{tb: t, base: s.URL}).do("GET", path, nil); status != http.StatusUnauthorized {
				t.Errorf("no token GET %s: status %d, want 401", path, status)
			}
		}

		// The auditor's many reads are logged once (per hour), as itself.
		reads := 0
		for _, e := range op.auditLog("acme") {
			if e.Action == "audit.read" {
				reads++
				if e.Actor.ID != auditor.ID || e.Actor.Type != "auditor" {
					t.Errorf("audit.read actor %+v, want the auditor token %s", e.Actor, auditor.ID)
				}
			}
		}
		if reads != 1 {
			t.Errorf("%d audit.read entries, want 1", reads)
		}

		// Export and verify offline, with the keys the server serves.
		dir := t.TempDir()
		out := filepath.Join(dir, "acme.tar")
		keysURL := s.URL + "/api/v1/audit/keys"
		mustCLI(t, env{}, "audit", "export", "--db", dsn, "--tenant", "acme", "--out", out, "--keys", keysURL, "--progress")
		trusted := filepath.Join(dir, "trusted.note")
		os.WriteFile(trusted, []byte(first.Note), 0o600)
		got := mustCLI(t, env{}, "audit", "verify", "--bundle", out, "--keys", keysURL, "--trusted-checkpoint", trusted)
		if !strings.Contains(got, "OK "+origin) || !strings.Contains(got, "consistent with the trusted checkpoint") {
			t.Errorf("verify --bundle:\n%s", got)
		}
		if r := runCLI(t, env{}, "audit", "verify", "--bundle", out, "--keys", filepath.Join(dir, "nokeys")); r.code != 2 {
			t.Errorf("verify with an unreadable keys file: exit %d, want 2", r.code)
		}
		if r := runCLI(t, env{}, "audit", "verify", "--bundle", out); r.code != 2 {
			t.Errorf("verify --bundle without --keys: exit %d, want 2", r.code)
		}
	})
}

func mustVerifiers(tb testing.TB, keys []string) note.Verifiers {
	tb.Helper()
	if len(keys) == 0 {
		tb.Fatal("no keys served")
	}
	var vs []note.Verifier
	for _, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			tb.Fatalf("served key %q: %v", k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...)
}

// auditBodies returns the hashed bodies of every entry of tenant, seq 1 first.
func (c client) auditBodies(tenant string) [][]byte {
	c.tb.Helper()
	var out [][]byte
	for after := 0; ; {
		var page struct {
			Entries []struct {
				Seq   int             `json:"seq"`
				Entry json.RawMessage `json:"entry"`
			} `json:"entries"`
		}
		c.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/tenants/%s/audit?after=%d&limit=500", tenant, after), nil, &page)
		if len(page.Entries) == 0 {
			return out
		}
		for _, e := range page.Entries {
			out = append(out, []byte(e.Entry))
			after = e.Seq
		}
	}
}
