package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

// logSize is the number of entries buildLog writes: tenant.created, token.issued and ten
// user.created, with checkpoints at 6 and at 12.
const logSize = 12

// signingService opens the store at dsn with a new checkpoint-signing key ring, which it
// also stores in keyFile for the CLI; the caller closes the store with the returned func.
func signingService(tb testing.TB, dsn, keyFile string) (*service.Service, func()) {
	tb.Helper()
	store, err := openStore(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	text, err := ledger.NewKeyRing("scimtrail-test")
	if err != nil {
		store.Close()
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, text, 0o600); err != nil {
		store.Close()
		tb.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		store.Close()
		tb.Fatal(err)
	}
	return service.New(store, service.Options{Keys: ring}), func() { store.Close() }
}

// buildLog writes a small, untouched log of tenant acme into the database at dsn through
// the real write path and signs checkpoints with a new key ring, which it stores in keyFile.
func buildLog(tb testing.TB, dsn, keyFile string) {
	tb.Helper()
	ctx := context.Background()
	svc, closeStore := signingService(tb, dsn, keyFile)
	defer closeStore()
	o := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "test"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, o, "acme", "Acme"); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := svc.IssueToken(ctx, o, "acme", scimtrail.TokenSCIM, "okta", 0); err != nil {
		tb.Fatal(err)
	}
	for i := range logSize - 2 {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d@example.com"}`, i)
		if _, _, err := svc.CreateResource(ctx, o, "acme", scimtrail.UserResource, []byte(body)); err != nil {
			tb.Fatal(err)
		}
		if i == 3 {
			if cp, err := svc.Checkpoint(ctx, "acme"); err != nil || cp.Size != 6 {
				tb.Fatalf("checkpoint: size %d, %v; want 6", cp.Size, err)
			}
		}
	}
	if cp, err := svc.Checkpoint(ctx, "acme"); err != nil || cp.Size != logSize {
		tb.Fatalf("checkpoint: size %d, %v; want %d", cp.Size, err, logSize)
	}
}

// rawDB runs tampering SQL against the database directly, bypassing scimtrail. Statements
// are written with ? placeholders and rebound to $n for PostgreSQL.
type rawDB struct {
	tb  testing.TB
	sql *sql.DB   // SQLite
	pg  *pgx.Conn // PostgreSQL
}

func openRaw(tb testing.TB, dsn string) *rawDB {
	tb.Helper()
	if isPostgres(dsn) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { conn.Close(context.Background()) })
		return &rawDB{tb: tb, pg: conn}
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return &rawDB{tb: tb, sql: db}
}

func (r *rawDB) exec(q string, args ...any) {
	r.tb.Helper()
	var err error
	if r.pg != nil {
		n := 0
		q = rebind(q, &n)
		_, err = r.pg.Exec(context.Background(), q, args...)
	} else {
		_, err = r.sql.Exec(q, args...)
	}
	if err != nil {
		r.tb.Fatalf("%s: %v", q, err)
	}
}

func (r *rawDB) bytes(q string, args ...any) []byte {
	r.tb.Helper()
	var b []byte
	var err error
	if r.pg != nil {
		n := 0
		err = r.pg.QueryRow(context.Background(), rebind(q, &n), args...).Scan(&b)
	} else {
		err = r.sql.QueryRow(q, args...).Scan(&b)
	}
	if err != nil {
		r.tb.Fatalf("%s: %v", q, err)
	}
	return b
}

func rebind(q string, n *int) string {
	var b strings.Builder
	for _, c := range q {
		if c == '?' {
			*n++
			fmt.Fprintf(&b, "$%d", *n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// body returns entry seq's stored body.
func (r *rawDB) body(seq int64) []byte {
	return r.bytes(`SELECT body FROM ledger_entries WHERE tenant = 'acme' AND seq = ?`, seq)
}

func (r *rawDB) setEntry(seq int64, body, leaf []byte) {
	r.exec(`UPDATE ledger_entries SET body = ?, leaf_hash = ? WHERE tenant = 'acme' AND seq = ?`, body, leaf, seq)
}

// copyFile copies a closed SQLite database (and its WAL, if one is left) to dst.
func copyDB(tb testing.TB, src, dst string) {
	tb.Helper()
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(src + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		out, err := os.Create(dst + suffix)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			tb.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestAuditVerifyCatchesTampering tampers with a copy of an untouched log in every way
// the ledger issue lists and checks that `audit verify --db` exits 1 naming the right seq
// and kind, on each backend.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(r *rawDB)
		wantSeq int64
		kind    ledger.FailureKind
	}{
		{"FlipByteInBody", func(r *rawDB) {
			b := r.body(5)
			i := bytes.Index(b, []byte("user2@"))
			b[i] = 'x'
			r.exec(`UPDATE ledger_entries SET body = ? WHERE tenant = 'acme' AND seq = 5`, b)
		}, 5, ledger.FailModified},
		{"RewriteBodyAndLeafHash", func(r *rawDB) {
			b := bytes.Replace(r.body(5), []byte("user2@"), []byte("mallory"), 1)
			r.setEntry(5, b, ledger.LeafHash(b))
		}, 5, ledger.FailModified},
		{"DeleteRow", func(r *rawDB) {
			r.exec(`DELETE FROM ledger_entries WHERE tenant = 'acme' AND seq = 5`)
		}, 5, ledger.FailDeleted},
		{"SwapTwoRows", func(r *rawDB) {
			b5, b6 := r.body(5), r.body(6)
			r.setEntry(5, b6, ledger.LeafHash(b6))
			r.setEntry(6, b5, ledger.LeafHash(b5))
		}, 5, ledger.FailReordered},
		{"TruncateTail", func(r *rawDB) {
			r.exec(`DELETE FROM ledger_entries WHERE tenant = 'acme' AND seq > 9`)
		}, 10, ledger.FailTruncated},
		{"ReinsertOldRow", func(r *rawDB) {
			r.exec(`INSERT INTO ledger_entries (tenant, seq, ` + timeColumn(r) + `, action, actor_id, target_id, body, leaf_hash)
				SELECT tenant, 13, ` + timeColumn(r) + `, action, actor_id, target_id, body, leaf_hash FROM ledger_entries WHERE tenant = 'acme' AND seq = 3`)
		}, 13, ledger.FailReordered},
		{"ReplaceCheckpointSignature", func(r *rawDB) {
			note := r.bytes(`SELECT note FROM checkpoints WHERE tenant = 'acme' AND size = 12`)
			sig := bytes.LastIndex(note, []byte(" ")) + 10 // inside the base64 signature
			note[sig] ^= 1
			if note[sig] == '\n' || note[sig] == ' ' {
				note[sig] = 'A'
			}
			r.exec(`UPDATE checkpoints SET note = ? WHERE tenant = 'acme' AND size = 12`, note)
		}, 12, ledger.FailBadSignature},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			var golden, goldenKey string
			if b.name == "SQLite" {
				dir := t.TempDir()
				golden, goldenKey = filepath.Join(dir, "golden.db"), filepath.Join(dir, "signing-key")
				buildLog(t, golden, goldenKey)
				// Stamp an install id, as serve does on its first start.
				setInstallID(t, golden)
			}
			fresh := func(t *testing.T) (dsn, keyFile string) {
				keyFile = filepath.Join(t.TempDir(), "signing-key")
				if golden != "" {
					dsn = filepath.Join(t.TempDir(), "copy.db")
					copyDB(t, golden, dsn)
					data, err := os.ReadFile(goldenKey)
					if err != nil {
						t.Fatal(err)
					}
					os.WriteFile(keyFile, data, 0o600)
					return dsn, keyFile
				}
				dsn = b.newDSN(t)
				setInstallID(t, dsn)
				buildLog(t, dsn, keyFile)
				return dsn, keyFile
			}
			t.Run("Untouched", func(t *testing.T) {
				dsn, keyFile := fresh(t)
				out := mustCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
				if !strings.Contains(out, fmt.Sprintf("entries: %d", logSize)) || !strings.Contains(out, "checkpoints: 2 (signed up to 12)") {
					t.Errorf("verify output:\n%s", out)
				}
			})
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					dsn, keyFile := fresh(t)
					tc.tamper(openRaw(t, dsn))
					r := runCLI(t, env{}, "audit", "verify", "--db", dsn, "--tenant", "acme", "--signing-key", keyFile)
					if r.code != 1 {
						t.Fatalf("exit %d (%v), want 1\n%s", r.code, r.err, r.stdout)
					}
					if want := fmt.Sprintf("first bad seq: %d\nkind: %s\n", tc.wantSeq, tc.kind); !strings.Contains(r.stdout, want) {
						t.Errorf("verify printed:\n%s\nwant it to contain:\n%s", r.stdout, want)
					}
				})
			}
		})
	}
}

func timeColumn(r *rawDB) string {
	if r.pg != nil {
		return "time"
	}
	return "time_us"
}

// setInstallID gives the database its install id, as the first serve does.
func setInstallID(tb testing.TB, dsn string) {
	tb.Helper()
	store, err := openStore(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	if _, err := service.New(store, service.Options{}).InstallID(context.Background()); err != nil {
		tb.Fatal(err)
	}
}
