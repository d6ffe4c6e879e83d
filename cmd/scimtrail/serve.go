package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/export/file"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/internal/gcpolicy"
	"github.com/scimtrail/scimtrail/serverkey"
	"github.com/scimtrail/scimtrail/service"
)

const serveUsage = `Usage: scimtrail serve [--addr 127.0.0.1:8080] [--db PATH|postgres://…]
                       [--tls-cert FILE --tls-key FILE] [--public-url URL] [--log-format json|text]
                       [--server-key FILE]

Runs the HTTP server: SCIM 2.0 at /scim/v2/{tenant}, the admin API at /api/v1,
the console at /console/, and /healthz, /readyz, /metrics.

On the first start on an empty database it creates an operator token and prints
it once on stdout. Set SCIMTRAIL_BOOTSTRAP_TOKEN to choose that token yourself.
SIGINT or SIGTERM drains in-flight requests (up to 30s) and exits. SIGHUP reloads
the checkpoint-signing key ring from its file (after "scimtrail audit keys rotate").

Flags:
  --addr ADDR          listen address (default 127.0.0.1:8080)
  --db DSN             SQLite file or postgres:// URL (default ` + defaultDB + `)
  --tls-cert FILE      PEM certificate chain; serve HTTPS (needs --tls-key)
  --tls-key FILE       PEM private key for --tls-cert
  --public-url URL     the URL clients reach this server at, behind a proxy
                       (e.g. https://scim.example.com); used in SCIM meta.location
  --log-format FORMAT  json (default) or text
  --server-key FILE    the install's secret key, kept outside the database, from which
                       SCIM cursor and console session keys are derived; created (0600,
                       32 random bytes) on first start (default: server.key beside the
                       SQLite database, or ./scimtrail-data/server.key for PostgreSQL).
                       Replicas share one key: copy the file, or set SCIMTRAIL_SERVER_KEY
                       to the key in base64 instead of a path
  --rate-limit N       requests a second each tenant may make after its burst
                       (default 5000; 0 turns the limit off); over it: 429
  --rate-burst N       requests a tenant may make at once (default 2 × rate-limit)
  --demo               also create a "demo" tenant and print a SCIM token for it
  --signing-key FILE   the checkpoint-signing key ring, created (0600) on first
                       start (default <data dir>/signing-key); or the ring itself
                       (PRIVATE+KEY+… text or PEM), e.g. in SCIMTRAIL_SIGNING_KEY.
                       It is never stored in the database.
  --checkpoint-interval D  sign a checkpoint for every grown log this often
                       (default 1s)
  --prune-interval D   drop entry bodies past each tenant's retention this often
                       (default 1h; see PUT /api/v1/tenants/{t}/retention)
  --expire-interval D  record access.expired for break-glass and expiring grants
                       past their expiry this often (default 30s; reads stop
                       counting such access at the expiry instant regardless)
  --allow-private-sinks  let export sinks reach loopback and private networks
                       and plain http (tests, development; SSRF otherwise)
  --sink-key-file FILE key sealing sink secrets in the database (base64 of
                       32 bytes, created when missing; default: next to a
                       SQLite database, none with PostgreSQL)
  --sink-file-dir DIR  directory file sinks write under (each sink's dir is
                       relative to it and cannot leave it); none: no file sinks
  --sink-lease D       how long a replica's hold on a sink lasts unless renewed
                       (default 30s): a replica that dies delays its sinks by
                       at most this long before another takes them over

Every flag can also be set as SCIMTRAIL_<FLAG>, e.g. SCIMTRAIL_ADDR, SCIMTRAIL_TLS_CERT.
`

// Server limits. A SCIM request is a few kilobytes; Bulk requests are the large ones, and
// the ServiceProviderConfig's maxPayloadSize tells IdPs to stay under MaxBodyBytes.
const (
	maxBodyBytes      = 4 << 20
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	// drainTimeout bounds graceful shutdown: long enough for any request the timeouts
	// above allow to finish its write path, short enough for a rolling deploy.
	drainTimeout = 30 * time.Second
	// defaultRateLimit is generous: far above what an IdP sends, low enough that one
	// tenant's runaway client cannot take the whole write path.
	defaultRateLimit = 5000
)

type serveConfig struct {
	addr, dsn, tlsCert, tlsKey, publicURL, logFormat string
	demo                                             bool
	signingKey                                       string
	checkpointInterval                               time.Duration
	// serverKeyFile is --server-key; serverKeyEnv is SCIMTRAIL_SERVER_KEY, the key itself
	// in base64, used when no --server-key is given on the command line.
	serverKeyFile, serverKeyEnv string
	pruneInterval               time.Duration
	expireInterval              time.Duration
	allowPrivateSinks           bool
	sinkKeyFile                 string
	sinkFileDir                 string
	sinkLease                   time.Duration
	rateLimit                   float64
	rateBurst                   int
	// readHeaderTimeout overrides the constant for tests (0: readHeaderTimeout).
	readHeaderTimeout time.Duration
}

func (m *Main) runServe(ctx context.Context, args []string) error {
	c := m.newCommand("serve", serveUsage)
	var cfg serveConfig
	c.fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "")
	c.fs.StringVar(&cfg.dsn, "db", defaultDB, "")
	c.fs.StringVar(&cfg.tlsCert, "tls-cert", "", "")
	c.fs.StringVar(&cfg.tlsKey, "tls-key", "", "")
	c.fs.StringVar(&cfg.publicURL, "public-url", "", "")
	c.fs.StringVar(&cfg.logFormat, "log-format", "json", "")
	c.fs.BoolVar(&cfg.demo, "demo", false, "")
	c.fs.Float64Var(&cfg.rateLimit, "rate-limit", defaultRateLimit, "")
	c.fs.IntVar(&cfg.rateBurst, "rate-burst", 0, "")
	c.fs.StringVar(&cfg.signingKey, "signing-key", "", "")
	c.fs.DurationVar(&cfg.checkpointInterval, "checkpoint-interval", time.Second, "")
	c.fs.StringVar(&cfg.serverKeyFile, "server-key", "", "")
	c.fs.DurationVar(&cfg.pruneInterval, "prune-interval", time.Hour, "")
	c.fs.DurationVar(&cfg.expireInterval, "expire-interval", 30*time.Second, "")
	c.fs.BoolVar(&cfg.allowPrivateSinks, "allow-private-sinks", false, "")
	c.fs.StringVar(&cfg.sinkKeyFile, "sink-key-file", "", "")
	c.fs.StringVar(&cfg.sinkFileDir, "sink-file-dir", "", "")
	c.fs.DurationVar(&cfg.sinkLease, "sink-lease", 30*time.Second, "")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	// SCIMTRAIL_SERVER_KEY is the key, not a path (a replica's key comes from a secret
	// store, not a file); parse copied it into the flag like any SCIMTRAIL_* variable, so
	// take it back out unless the command line named a file.
	if env := m.Getenv("SCIMTRAIL_SERVER_KEY"); env != "" && cfg.serverKeyFile == env {
		cfg.serverKeyFile, cfg.serverKeyEnv = "", env
	}
	if err := c.wantArgs(pos); err != nil {
		return err
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return m.usage(serveUsage, errors.New("serve: --tls-cert and --tls-key go together"))
	}
	var handler slog.Handler
	switch cfg.logFormat {
	case "json":
		handler = slog.NewJSONHandler(m.Stderr, nil)
	case "text":
		handler = slog.NewTextHandler(m.Stderr, nil)
	default:
		return m.usage(serveUsage, fmt.Errorf("serve: --log-format must be json or text, not %q", cfg.logFormat))
	}
	if cfg.rateLimit < 0 || math.IsNaN(cfg.rateLimit) || math.IsInf(cfg.rateLimit, 0) || cfg.rateBurst < 0 {
		return m.usage(serveUsage, fmt.Errorf("serve: --rate-limit and --rate-burst must be finite and not negative"))
	}
	if cfg.sinkLease < time.Second {
		return m.usage(serveUsage, errors.New("serve: --sink-lease must be at least 1s"))
	}
	if cfg.checkpointInterval <= 0 {
		return m.usage(serveUsage, errors.New("serve: --checkpoint-interval must be positive"))
	}
	if cfg.pruneInterval <= 0 {
		return m.usage(serveUsage, errors.New("serve: --prune-interval must be positive"))
	}
	if cfg.expireInterval <= 0 {
		return m.usage(serveUsage, errors.New("serve: --expire-interval must be positive"))
	}
	if cfg.publicURL != "" && !strings.HasPrefix(cfg.publicURL, "http://") && !strings.HasPrefix(cfg.publicURL, "https://") {
		return m.usage(serveUsage, fmt.Errorf("serve: --public-url must start with http:// or https://, not %q", cfg.publicURL))
	}
	cfg.readHeaderTimeout = m.readHeaderTimeout
	return m.serve(ctx, cfg, slog.New(handler))
}

// serve runs the server until ctx is cancelled. The store is opened first and closed last,
// exactly once, on every path: its Close flushes writes that were queued for the group
// commit, so it must come after the HTTP server has stopped handing it new ones.
func (m *Main) serve(ctx context.Context, cfg serveConfig, logger *slog.Logger) (err error) {
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		// Load the pair before touching the database so that a typo fails fast.
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	reg := prometheus.NewRegistry()
	metrics := httpapi.NewMetrics(reg)

	store, err := openStore(ctx, cfg.dsn, metrics.ObserveWriteBatch)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactDSN(cfg.dsn), err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			logger.Error("close database", "err", cerr)
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
		logger.Info("stopped")
	}()
	serverKey, err := loadServerKey(cfg, logger)
	if err != nil {
		return err
	}
	sinkKey, sinkKeyPath, err := loadSinkKey(cfg.sinkKeyFile, cfg.dsn)
	if err != nil {
		return err
	}
	svc, ring, err := m.ledgerService(ctx, store, cfg, logger, service.Options{
		Sinks:     service.SinkOptions{Key: sinkKey, AllowPrivate: cfg.allowPrivateSinks, FileDir: cfg.sinkFileDir},
		CursorKey: serverkey.Derive(serverKey, serverkey.CursorLabel),
	})
	if err != nil {
		return err
	}
	// SIGHUP reloads the signing key ring (after "audit keys rotate"). Registered before
	// the server is ready, so a SIGHUP from then on never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hupDone := make(chan struct{})
	defer func() { signal.Stop(hup); close(hupDone) }()
	go func() {
		for {
			select {
			case <-hup:
				if err := m.reloadKeyRing(ring, cfg, logger); err != nil {
					logger.Error("reload the checkpoint signing key ring", "err", err)
				}
			case <-hupDone:
				return
			}
		}
	}()
	if cfg.sinkFileDir != "" {
		if err := os.MkdirAll(cfg.sinkFileDir, 0o750); err != nil {
			return fmt.Errorf("--sink-file-dir: %w", err)
		}
	}
	logger.Info("export sinks", "key_file", sinkKeyPath, "allow_private", cfg.allowPrivateSinks)
	// The runtime reads GOGC and GOMEMLIMIT from the process environment itself, so that
	// (not m.Getenv) is where an operator's own setting is found.
	if gcpolicy.Apply(os.Getenv) {
		logger.Info("garbage collector", "gogc", gcpolicy.Percent, "memory_limit_mib", gcpolicy.Limit>>20)
	}
	// The dispatcher stops before the store closes (deferred calls run in reverse).
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	dispatcher := export.New(svc, export.Options{Logger: logger, AllowPrivate: cfg.allowPrivateSinks, Metrics: export.NewMetrics(reg),
		Checkpoint: svc.LatestCheckpointRecord, FileDir: cfg.sinkFileDir, WriteFiles: file.Write, LeaseTTL: cfg.sinkLease})
	dispatched := make(chan struct{})
	go func() { dispatcher.Run(dispatchCtx); close(dispatched) }()
	defer func() { stopDispatch(); <-dispatched }()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	// Closed by Serve or Shutdown; closing it here as well covers the paths before Serve.
	defer ln.Close()

	base := baseURL(cfg.publicURL, ln.Addr(), tlsConfig != nil)

	preset := m.Getenv("SCIMTRAIL_BOOTSTRAP_TOKEN")
	secret, created, err := svc.Bootstrap(ctx, preset)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		printBanner(m.Stdout, base, secret, preset != "")
		logger.Info("created the operator token", "preset", preset != "")
	}
	if cfg.demo {
		if err := m.seedDemo(ctx, svc, base); err != nil {
			return fmt.Errorf("seed the demo tenant: %w", err)
		}
	}

	srv := &http.Server{
		Handler: httpapi.NewHandler(svc, httpapi.Options{
			Logger:       logger,
			Metrics:      metrics,
			MaxBodyBytes: maxBodyBytes,
			PublicURL:    cfg.publicURL,
			SessionKey:   serverkey.Derive(serverKey, serverkey.SessionLabel),
			RateLimit:    cfg.rateLimit,
			RateBurst:    cfg.rateBurst,
		}),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: cmp.Or(cfg.readHeaderTimeout, readHeaderTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	cpCtx, stopCheckpointer := context.WithCancel(context.WithoutCancel(ctx))
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		svc.RunCheckpointer(cpCtx, cfg.checkpointInterval, logger)
	}()
	pruneDone := make(chan struct{})
	go func() {
		defer close(pruneDone)
		svc.RunPruner(cpCtx, cfg.pruneInterval, logger)
	}()
	expireDone := make(chan struct{})
	go func() {
		defer close(expireDone)
		svc.RunExpirer(cpCtx, cfg.expireInterval, logger)
	}()
	// After the HTTP server has drained, before the store closes.
	defer func() {
		stopCheckpointer()
		<-cpDone
		<-pruneDone
		<-expireDone
	}()
	serveErr := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			// The certificate is already in TLSConfig; ServeTLS also sets up HTTP/2.
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "url", base, "tls", tlsConfig != nil, "db", redactDSN(cfg.dsn))
	if m.Ready != nil {
		select {
		case m.Ready <- base:
		case <-ctx.Done():
		}
	}

	select {
	case err := <-serveErr:
		// Serve only returns early on a listener failure; nothing is in flight to drain
		// beyond what Shutdown handles.
		shutdown(srv, logger)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "drain", drainTimeout.String())
	if err := shutdown(srv, logger); err != nil {
		return err
	}
	<-serveErr // http.ErrServerClosed
	return nil
}

// loadServerKey returns the server key from SCIMTRAIL_SERVER_KEY, or from the key file,
// creating the file on first start. The key is never logged; only where it came from.
func loadServerKey(cfg serveConfig, logger *slog.Logger) ([]byte, error) {
	if cfg.serverKeyEnv != "" {
		key, err := serverkey.Parse(cfg.serverKeyEnv)
		if err != nil {
			return nil, fmt.Errorf("SCIMTRAIL_SERVER_KEY: %w", err)
		}
		return key, nil
	}
	path := cfg.serverKeyFile
	if path == "" {
		path = defaultServerKeyPath(cfg.dsn)
	}
	key, created, err := serverkey.LoadOrCreate(path)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("created the server key; replicas and restores need this file", "path", path)
	}
	return key, nil
}

// defaultServerKeyPath is server.key beside the SQLite database, or in ./scimtrail-data for
// PostgreSQL, whose DSN names no directory.
func defaultServerKeyPath(dsn string) string {
	if isPostgres(dsn) {
		return filepath.Join("scimtrail-data", "server.key")
	}
	return filepath.Join(filepath.Dir(strings.TrimPrefix(dsn, "file:")), "server.key")
}

// shutdown stops accepting connections and waits up to drainTimeout for in-flight requests.
// Its context is not derived from the server's, which is already cancelled by now.
func shutdown(srv *http.Server, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Error("drain did not finish; closing remaining connections", "err", err)
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// baseURL is the URL people and IdPs reach the server at: --public-url when set, otherwise
// the listener's address, with a wildcard host replaced by localhost so it can be pasted.
func baseURL(publicURL string, addr net.Addr, tls bool) string {
	if publicURL != "" {
		return strings.TrimRight(publicURL, "/")
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// demoTenant is the tenant --demo creates.
const demoTenant = "demo"

// seedDemo creates the demo tenant, once, and prints a fresh SCIM token for it, so that
// someone trying scimtrail can point an IdP (or curl) at it straight away. On later starts
// the tenant exists and nothing is issued: tokens are not handed out on every restart.
func (m *Main) seedDemo(ctx context.Context, svc *service.Service, base string) error {
	_, _, err := svc.CreateTenant(ctx, demoOrigin, demoTenant, "Demo")
	if scimtrail.ErrorCode(err) == scimtrail.ECONFLICT {
		return nil
	}
	if err != nil {
		return err
	}
	tok, _, err := svc.IssueToken(ctx, demoOrigin, demoTenant, scimtrail.TokenSCIM, "demo", 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "Demo tenant %q created. Point an IdP at it:\n\n", demoTenant)
	fmt.Fprintf(m.Stdout, "    SCIM base URL: %s/scim/v2/%s\n", base, demoTenant)
	fmt.Fprintf(m.Stdout, "    SCIM token:    %s\n\n", tok.Secret)
	return nil
}

// demoOrigin records the demo seed as the system's own doing, not a person's.
var demoOrigin = service.Origin{
	Actor:   scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "demo"},
	Channel: scimtrail.ChannelSystem,
}

// printBanner tells the operator, once, how to get started. A preset token is not echoed:
// whoever set SCIMTRAIL_BOOTSTRAP_TOKEN knows it, and the output may end up in logs.
func printBanner(w io.Writer, base, secret string, preset bool) {
	tok := secret
	if preset {
		tok = "$SCIMTRAIL_BOOTSTRAP_TOKEN"
		fmt.Fprintf(w, "\nscimtrail: the operator token is the value of SCIMTRAIL_BOOTSTRAP_TOKEN.\n\n")
	} else {
		fmt.Fprintf(w, "\nscimtrail: created the operator token. It is shown only this once; keep it safe:\n\n")
		fmt.Fprintf(w, "    operator token: %s\n\n", secret)
	}
	fmt.Fprintf(w, "Console: %s/console/\n\n", base)
	fmt.Fprintf(w, "Create a tenant, then a SCIM token for its identity provider:\n\n")
	fmt.Fprintf(w, "    curl -H \"Authorization: Bearer %s\" -H \"Content-Type: application/json\" -d '{\"id\":\"acme\",\"name\":\"Acme\"}' %s/api/v1/tenants\n", tok, base)
	fmt.Fprintf(w, "    curl -H \"Authorization: Bearer %s\" -H \"Content-Type: application/json\" -d '{\"kind\":\"scim\",\"name\":\"okta\"}' %s/api/v1/tenants/acme/tokens\n\n", tok, base)
	fmt.Fprintf(w, "The SCIM base URL for that tenant is %s/scim/v2/acme\n\n", base)
}
