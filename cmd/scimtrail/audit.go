package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

const auditUsage = `Usage: scimtrail audit verify (--db DSN --tenant ID | --bundle PATH)
                             [--trusted-checkpoint FILE] [--keys FILE|URL] [--progress]
       scimtrail audit verify --report FILE --keys FILE|URL
       scimtrail audit export --tenant ID --out PATH [--db DSN] [--progress]
       scimtrail audit export --tenant ID --out PATH|- --format native|ocsf|cef
                             [--since SEQ|TIME] [--until SEQ|TIME] [--resume]
       scimtrail audit keys [rotate] [--signing-key FILE|TEXT]
       scimtrail audit prune --tenant ID [--db DSN] [--dry-run]

verify checks a tenant's tamper-evident log, in the database or in an exported
bundle, against its signed checkpoints and, with --trusted-checkpoint, against a
checkpoint you saved earlier. It prints the first bad sequence number and the
kind of failure. Exit status: 0 verified, 1 tampering found, 2 usage or I/O error.

With --report, verify checks a saved JSON evidence report (GET …/reports/access,
privileged-changes, stale, drift, or "scimtrail report access") offline: the
checkpoint's signature, each cited entry's inclusion in that checkpoint's tree,
that each cited body hashes to its leaf, and that every access path cites the
access.granted entry of that user, role and path.

  --keys FILE|URL  the checkpoint verifier keys, one a line, or the URL of
                   /api/v1/audit/keys. Default for --db: the public half of the
                   signing key ring (--signing-key). A bundle's own keys.txt is
                   never trusted alone: --bundle needs --keys.

export writes a self-contained bundle (entries, checkpoints, public keys, README).
With --format it writes the entries one a line instead, as the sinks deliver them:
native (the record with tenant, seq, leaf_hash, checkpoint, entry), ocsf (the OCSF
event with tenant, seq, leaf_hash, checkpoint beside it) or cef (a CEF:0 line;
cn1 is the seq). Pruned entries are skipped.

  --out PATH|-     the file, or - for stdout
  --since SEQ|TIME from this seq, or from entries at or after this RFC 3339 time
  --until SEQ|TIME up to and including this seq, or entries before this time
  --resume         continue after the last whole line of --out (a run that was
                   interrupted, or more entries since): a half-written last line
                   is cut off, nothing is written twice

prune drops the bodies of the tenant's entries older than its retention period
(never under legal hold, never past the latest signed checkpoint, whole entry
bundles only), keeping leaf hashes, tiles and checkpoints, and logs ledger.pruned.
serve does the same every --prune-interval.

keys prints the checkpoint verifier keys; "keys rotate" replaces the signing key,
keeping the old public key so old checkpoints still verify; a running serve signs
with the new key after SIGHUP (kill -HUP <pid>) or a restart.

  --signing-key FILE|TEXT  the key ring file (default <data dir>/signing-key), or
                   the ring itself (PRIVATE+KEY+… text, optionally PEM-armoured),
                   e.g. in SCIMTRAIL_SIGNING_KEY.
  --progress       show a progress bar even when stderr is not a terminal
`

// exitError carries an exit code other than 1: verify exits 2 when it could not finish.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func (m *Main) runAudit(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return m.usage(auditUsage, errors.New("audit: missing verify, export, keys or prune"))
	}
	switch args[0] {
	case "verify":
		return m.auditVerify(ctx, args[1:])
	case "export":
		return m.auditExport(ctx, args[1:])
	case "keys":
		return m.auditKeys(ctx, args[1:])
	case "prune":
		return m.auditPrune(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, auditUsage)
		return errHelp
	}
	return m.usage(auditUsage, fmt.Errorf("audit: unknown subcommand %q", args[0]))
}

// ioFail is an error that stops verify before it could decide: exit 2.
func ioFail(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func (m *Main) auditVerify(ctx context.Context, args []string) error {
	c := m.newCommand("audit verify", auditUsage)
	var dsn, tenant, bundle, trustedFile, keysSpec, signingKey, reportFile string
	var progress bool
	c.fs.StringVar(&reportFile, "report", "", "")
	c.fs.StringVar(&dsn, "db", "", "")
	c.fs.StringVar(&tenant, "tenant", "", "")
	c.fs.StringVar(&bundle, "bundle", "", "")
	c.fs.StringVar(&trustedFile, "trusted-checkpoint", "", "")
	c.fs.StringVar(&keysSpec, "keys", "", "")
	c.fs.StringVar(&signingKey, "signing-key", "", "")
	c.fs.BoolVar(&progress, "progress", false, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	if reportFile != "" {
		if bundle != "" || dsn != "" || tenant != "" {
			return m.usage(auditUsage, errors.New("audit verify: --report goes alone with --keys"))
		}
		return m.verifyReport(ctx, reportFile, keysSpec)
	}
	if (bundle == "") == (dsn == "" && tenant == "") {
		return m.usage(auditUsage, errors.New("audit verify: give either --db and --tenant, or --bundle"))
	}
	if bundle == "" && (dsn == "" || tenant == "") {
		return m.usage(auditUsage, errors.New("audit verify: --db and --tenant go together"))
	}
	var trusted []byte
	if trustedFile != "" {
		if trusted, err = os.ReadFile(trustedFile); err != nil {
			return ioFail("read the trusted checkpoint: %w", err)
		}
	}

	var src ledger.EntrySource
	var checkpoints [][]byte
	var origin string
	var keys []string
	var total int64
	if bundle != "" {
		if keysSpec == "" {
			return m.usage(auditUsage, errors.New("audit verify: --bundle needs --keys: the bundle's own keys prove nothing by themselves"))
		}
		f, err := os.Open(bundle)
		if err != nil {
			return ioFail("open the bundle: %w", err)
		}
		defer f.Close()
		b, err := ledger.ReadBundle(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			return ioFail("read the bundle: %w", err)
		}
		src, checkpoints, origin, total = b.Entries, b.Checkpoints, b.Origin, b.Size
	} else {
		store, err := openStore(ctx, dsn, nil)
		if err != nil {
			return ioFail("open database %s: %w", redactDSN(dsn), err)
		}
		defer store.Close()
		log, err := readDBLog(ctx, store, tenant)
		if err != nil {
			return ioFail("%w", err)
		}
		entries := service.NewLogSource(ctx, store, tenant, 0, 0)
		defer entries.Close()
		src, checkpoints, origin, total = entries, log.checkpoints, log.origin, log.size
		if keysSpec == "" {
			ring, _, err := m.loadKeyRing(signingKey, dsn, "")
			if err != nil {
				return ioFail("no --keys given and %w", err)
			}
			keys = ring.VerifierKeys()
		}
	}
	if keysSpec != "" {
		if keys, err = readVerifierKeys(ctx, keysSpec); err != nil {
			return ioFail("%w", err)
		}
	}
	verifiers, err := ledger.ParseVerifierKeys(keys)
	if err != nil {
		return ioFail("verifier keys: %w", err)
	}
	bar := m.progressBar(progress, total, "verifying")
	rep := ledger.Verify(countingSource{src, bar}, checkpoints, verifiers, origin, trusted)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(m.Stderr)
	}
	if rep.Err != nil {
		return ioFail("verify %s: %w", origin, rep.Err)
	}
	if bundle != "" && rep.OK && rep.Entries != total {
		return ioFail("the bundle's manifest says %d entries but it holds %d", total, rep.Entries)
	}
	if !rep.OK {
		fmt.Fprintf(m.Stdout, "FAIL %s\nfirst bad seq: %d\nkind: %s\ndetail: %s\n", origin, rep.FirstBadSeq, rep.Kind, rep.Detail)
		return &exitError{code: 1, err: fmt.Errorf("the log of %s does not verify: seq %d: %s", origin, rep.FirstBadSeq, rep.Kind)}
	}
	fmt.Fprintf(m.Stdout, "OK %s\nentries: %d\nroot: %x\ncheckpoints: %d (signed up to %d)\n", origin, rep.Entries, rep.Root, rep.Checkpoints, rep.Signed)
	for _, p := range rep.Pruned {
		fmt.Fprintf(m.Stdout, "pruned: %d-%d\n", p.From, p.To)
	}
	if trusted != nil {
		fmt.Fprintln(m.Stdout, "consistent with the trusted checkpoint")
	}
	return nil
}

// readVerifierKeys reads note verifier keys from a file (one a line, # comments) or from a
// server's /api/v1/audit/keys.
func readVerifierKeys(ctx context.Context, spec string) ([]string, error) {
	if strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec, nil)
		if err != nil {
			return nil, fmt.Errorf("--keys: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch the keys: %w", err)
		}
		defer resp.Body.Close()
		var body struct{ Keys []string }
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch the keys: %s", resp.Status)
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
			return nil, fmt.Errorf("fetch the keys: %w", err)
		}
		return body.Keys, nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("read the keys: %w", err)
	}
	var keys []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	return keys, nil
}

// progressBar returns a bar on stderr when it is a terminal or force is set; nil otherwise.
func (m *Main) progressBar(force bool, total int64, what string) *progressbar.ProgressBar {
	if !force {
		f, ok := m.Stderr.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(m.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetItsString("entries"),
		progressbar.OptionShowIts(),
	)
}

// countingSource advances a progress bar as records are read.
type countingSource struct {
	src ledger.EntrySource
	bar *progressbar.ProgressBar
}

func (c countingSource) Next() (ledger.Record, error) {
	r, err := c.src.Next()
	if err == nil && c.bar != nil {
		c.bar.Add(1)
	}
	return r, err
}

func (m *Main) auditExport(ctx context.Context, args []string) error {
	c := m.newCommand("audit export", auditUsage)
	var dsn, tenant, out, signingKey, keysSpec, format, since, until string
	var progress, resume bool
	c.fs.StringVar(&dsn, "db", defaultDB, "")
	c.fs.StringVar(&tenant, "tenant", "", "")
	c.fs.StringVar(&out, "out", "", "")
	c.fs.StringVar(&signingKey, "signing-key", "", "")
	c.fs.StringVar(&keysSpec, "keys", "", "")
	c.fs.StringVar(&format, "format", "", "")
	c.fs.StringVar(&since, "since", "", "")
	c.fs.StringVar(&until, "until", "", "")
	c.fs.BoolVar(&resume, "resume", false, "")
	c.fs.BoolVar(&progress, "progress", false, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	if tenant == "" || out == "" {
		return m.usage(auditUsage, errors.New("audit export: --tenant and --out are required"))
	}
	if format != "" {
		return m.auditExportLines(ctx, dsn, tenant, out, format, signingKey, since, until, resume, progress)
	}
	if since != "" || until != "" || resume || out == "-" {
		return m.usage(auditUsage, errors.New("audit export: --since, --until, --resume and --out - need --format; a bundle always holds the whole log"))
	}
	var keys []string
	if keysSpec != "" {
		if keys, err = readVerifierKeys(ctx, keysSpec); err != nil {
			return err
		}
	} else {
		ring, _, err := m.loadKeyRing(signingKey, dsn, "")
		if err != nil {
			return fmt.Errorf("the bundle needs the public keys (--keys): %w", err)
		}
		keys = ring.VerifierKeys()
	}
	store, log, err := openLog(ctx, dsn, tenant)
	if err != nil {
		return err
	}
	defer store.Close()
	entries := service.NewLogSource(ctx, store, tenant, 0, log.size)
	defer entries.Close()
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create the bundle: %w", err)
	}
	defer os.Remove(tmp)
	bar := m.progressBar(progress, log.size, "exporting")
	w := bufio.NewWriterSize(f, 1<<20)
	err = ledger.WriteBundle(w, ledger.Bundle{
		Origin: log.origin, Tenant: tenant, Created: time.Now().UTC(), Size: log.size,
		VerifierKeys: keys, Checkpoints: log.checkpoints, Entries: countingSource{entries, bar},
	})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(m.Stderr)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		return fmt.Errorf("write the bundle: %w", err)
	}
	fmt.Fprintf(m.Stdout, "exported %d entries and %d checkpoints of %s to %s\n", log.size, len(log.checkpoints), log.origin, out)
	return nil
}

// dbLog is a tenant's log read from the database for verify or export.
type dbLog struct {
	origin      string
	size        int64
	checkpoints [][]byte
}

// openLog opens the database at dsn and reads the tenant's log with readDBLog; the caller
// closes the store.
func openLog(ctx context.Context, dsn, tenant string) (scimtrail.Store, dbLog, error) {
	store, err := openStore(ctx, dsn, nil)
	if err != nil {
		return nil, dbLog{}, fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
	}
	log, err := readDBLog(ctx, store, tenant)
	if err != nil {
		store.Close()
		return nil, dbLog{}, err
	}
	return store, log, nil
}

// readDBLog reads the origin, head size and checkpoints; entries stream afterwards from a
// service.LogSource. The checkpoints are read first, so entries appended meanwhile only make
// the log longer than they claim, which verifies.
func readDBLog(ctx context.Context, store scimtrail.Store, tenant string) (dbLog, error) {
	var l dbLog
	err := store.View(ctx, func(tx scimtrail.ReadTx) error {
		id, err := tx.Setting(ctx, "install_id")
		if err != nil {
			return fmt.Errorf("the database has no install id (has serve ever run on it?): %w", err)
		}
		l.origin = ledger.Origin(id, tenant)
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		l.size = head.Size
		cps, err := tx.Checkpoints(ctx, tenant)
		for _, c := range cps {
			l.checkpoints = append(l.checkpoints, c.Note)
		}
		return err
	})
	return l, err
}

func (m *Main) auditKeys(ctx context.Context, args []string) error {
	c := m.newCommand("audit keys", auditUsage)
	var signingKey, dsn string
	c.fs.StringVar(&signingKey, "signing-key", "", "")
	c.fs.StringVar(&dsn, "db", defaultDB, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (len(pos) == 1 && pos[0] != "rotate") {
		return m.usage(auditUsage, errors.New(`audit keys: the only subcommand is "rotate"`))
	}
	ring, path, err := m.loadKeyRing(signingKey, dsn, "")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		if path == "" {
			return errors.New("audit keys rotate: the key ring comes from SCIMTRAIL_SIGNING_KEY; rotate it where it is kept (a file given with --signing-key can be rotated here)")
		}
		text, err := ring.Rotate()
		if err != nil {
			return err
		}
		// Durable before any checkpoint is signed with the new key.
		if err := writeFileAtomic(path, text); err != nil {
			return fmt.Errorf("store the rotated key ring: %w", err)
		}
		fmt.Fprintln(m.Stderr, "rotated the signing key; send serve SIGHUP (or restart it) to sign with it")
	}
	for _, k := range ring.VerifierKeys() {
		fmt.Fprintln(m.Stdout, k)
	}
	return nil
}

// signingKeyPath is where the key ring lives unless --signing-key says otherwise: beside
// the SQLite database, or in the default data directory for PostgreSQL.
func signingKeyPath(dsn string) string {
	dir := filepath.Dir(defaultDB)
	if dsn != "" && !isPostgres(dsn) {
		dir = filepath.Dir(dsn)
	}
	return filepath.Join(dir, "signing-key")
}

// isKeyText tells the key ring itself from a file name in --signing-key.
func isKeyText(spec string) bool {
	return strings.Contains(spec, "PRIVATE+KEY+") || strings.Contains(spec, "-----BEGIN")
}

// loadKeyRing reads the checkpoint-signing key ring: the text in spec, the file spec, or the
// default file next to the database. When createName is set and the file does not exist, a
// new ring with a key of that name is created (0600) first. It returns the file's path, ""
// when the ring came as text. The key never goes to the database or a log.
func (m *Main) loadKeyRing(spec, dsn, createName string) (*ledger.KeyRing, string, error) {
	if isKeyText(spec) {
		ring, err := ledger.ParseKeyRing(dearmor([]byte(spec)))
		if err != nil {
			return nil, "", fmt.Errorf("the signing key ring in --signing-key/SCIMTRAIL_SIGNING_KEY: %w", err)
		}
		return ring, "", nil
	}
	path := spec
	if path == "" {
		path = signingKeyPath(dsn)
	}
	text, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && createName != "" {
		if text, err = ledger.NewKeyRing(createName); err == nil {
			if err = os.MkdirAll(filepath.Dir(path), 0o750); err == nil {
				err = writeFileExcl(path, text)
			}
			if errors.Is(err, os.ErrExist) { // another process created it first
				text, err = os.ReadFile(path)
			}
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("the signing key ring %s: %w", path, err)
	}
	ring, err := ledger.ParseKeyRing(dearmor(text))
	if err != nil {
		return nil, "", fmt.Errorf("the signing key ring %s: %w", path, err)
	}
	return ring, path, nil
}

// dearmor drops PEM armour lines (-----BEGIN …-----), so a ring may be pasted as PEM.
func dearmor(text []byte) []byte {
	var out []byte
	for line := range bytes.Lines(text) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("-----")) {
			out = append(out, line...)
		}
	}
	return out
}

func writeFileExcl(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// writeFileAtomic replaces path with data durably: a crash leaves the old or the new ring.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".new"
	os.Remove(tmp)
	if err := writeFileExcl(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ledgerService returns the server's Service with its checkpoint-signing keys, after making
// sure the install has an id (generated on the first start) and every log has its tiles.
// opts carries the rest of the server's service options; Keys is set here.
func (m *Main) ledgerService(ctx context.Context, store scimtrail.Store, cfg serveConfig, logger *slog.Logger, opts service.Options) (*service.Service, *ledger.KeyRing, error) {
	id, err := service.New(store, service.Options{}).InstallID(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("install id: %w", err)
	}
	ring, path, err := m.loadKeyRing(cfg.signingKey, cfg.dsn, "scimtrail-"+id)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("checkpoint signing key", "file", path, "key", ring.VerifierKeys()[0])
	opts.Keys = ring
	svc := service.New(store, opts)
	if err := svc.BackfillTiles(ctx, logger); err != nil {
		return nil, nil, err
	}
	return svc, ring, nil
}

// reloadKeyRing reads the signing key ring from its file again into ring, which the running
// Service signs with, so that a key rotated with "audit keys rotate" signs from the next
// checkpoint on without a restart (serve does this on SIGHUP). A ring that lacks the
// current public key is refused (see ledger.KeyRing.Replace) and the old one kept.
func (m *Main) reloadKeyRing(ring *ledger.KeyRing, cfg serveConfig, logger *slog.Logger) error {
	if isKeyText(cfg.signingKey) {
		return errors.New("the key ring was given as text (--signing-key/SCIMTRAIL_SIGNING_KEY), not a file: nothing to reload; restart serve with the new ring")
	}
	next, path, err := m.loadKeyRing(cfg.signingKey, cfg.dsn, "")
	if err != nil {
		return err
	}
	changed, err := ring.Replace(next)
	if err != nil {
		return fmt.Errorf("the signing key ring %s: %w; still signing with %s", path, err, ring.VerifierKeys()[0])
	}
	logger.Info("reloaded the checkpoint signing key ring", "file", path, "key", ring.VerifierKeys()[0], "changed", changed)
	return nil
}

func (m *Main) auditPrune(ctx context.Context, args []string) error {
	c := m.newCommand("audit prune", auditUsage)
	var dsn, tenant string
	var dryRun bool
	c.fs.StringVar(&dsn, "db", defaultDB, "")
	c.fs.StringVar(&tenant, "tenant", "", "")
	c.fs.BoolVar(&dryRun, "dry-run", false, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	if tenant == "" {
		return m.usage(auditUsage, errors.New("audit prune: --tenant is required"))
	}
	store, err := openStore(ctx, dsn, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
	}
	defer store.Close()
	res, err := service.New(store, service.Options{}).Prune(ctx, tenant, dryRun)
	if err != nil {
		return err
	}
	switch {
	case res.Held:
		fmt.Fprintf(m.Stdout, "legal hold: nothing pruned (entries up to %d were pruned before)\n", res.From-1)
	case res.To < res.From:
		fmt.Fprintf(m.Stdout, "nothing to prune (entries up to %d are pruned)\n", res.From-1)
	case dryRun:
		fmt.Fprintf(m.Stdout, "would prune: %d-%d\n", res.From, res.To)
	default:
		fmt.Fprintf(m.Stdout, "pruned: %d-%d (%d entries), logged as seq %d\n", res.From, res.To, res.Entries, res.Seq)
	}
	return nil
}
