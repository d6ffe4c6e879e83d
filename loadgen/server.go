package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/postgres"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// ServerConfig says which database an in-process server runs on.
type ServerConfig struct {
	// DSN is a postgres:// URL, or "" for a fresh SQLite file in Dir.
	DSN string
	// Dir holds the SQLite database; required when DSN is "".
	Dir string
	// Logger receives the server's request logs; nil discards them, so that formatting log
	// lines on the load tool's shared cores does not count against the server.
	Logger *slog.Logger
	// Tenant names the tenant to work in, created if it does not exist yet, so that a kept
	// database can be reused by a later run; "" creates a fresh bench-… tenant.
	Tenant string
}

// Server is a scimtrail server assembled the way `scimtrail serve` assembles it
// (store → service → httpapi with metrics), listening on 127.0.0.1:0, with one tenant and a
// SCIM token for it.
type Server struct {
	// URL is the SCIM base URL of the tenant, e.g. http://127.0.0.1:41234/scim/v2/bench-1a2b.
	URL string
	// Token is a SCIM bearer token for that tenant.
	Token string
	// Backend is "sqlite" or "postgres".
	Backend string

	// StartTime is how long opening the store took (migrations included): with a kept
	// database, the start-up cost at that data size.
	StartTime time.Duration

	batches, commands atomic.Int64
	store             scimtrail.Store
	svc               *service.Service
	origin            service.Origin
	tenant            string
	srv               *http.Server
	serveErr          chan error
}

// StartServer opens the database, starts the HTTP server and bootstraps a tenant and a
// token through the service, as an operator would with the CLI.
func StartServer(ctx context.Context, cfg ServerConfig) (_ *Server, err error) {
	s := &Server{serveErr: make(chan error, 1)}
	metrics := httpapi.NewMetrics(prometheus.NewRegistry())
	// Counting commands per committed batch tells whether group commit is batching at all,
	// which DESIGN.md §2 names as what bounds write throughput.
	onBatch := func(n int) {
		s.batches.Add(1)
		s.commands.Add(int64(n))
		metrics.ObserveWriteBatch(n)
	}
	opened := time.Now()
	switch {
	case strings.HasPrefix(cfg.DSN, "postgres://") || strings.HasPrefix(cfg.DSN, "postgresql://"):
		s.Backend = "postgres"
		s.store, err = postgres.Open(ctx, cfg.DSN, postgres.Options{OnBatch: onBatch})
	case cfg.DSN == "":
		if cfg.Dir == "" {
			return nil, errors.New("loadgen: ServerConfig needs Dir for SQLite")
		}
		s.Backend = "sqlite"
		s.store, err = sqlite.Open(ctx, filepath.Join(cfg.Dir, "scimtrail.db"), sqlite.Options{OnBatch: onBatch})
	default:
		return nil, fmt.Errorf("loadgen: --db must be a postgres:// URL or empty for SQLite, not %q", cfg.DSN)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.Backend, err)
	}
	s.StartTime = time.Since(opened)
	defer func() {
		if err != nil {
			s.store.Close()
		}
	}()
	svc := service.New(s.store, service.Options{})

	// A fresh tenant per run unless one is named, so a PostgreSQL database that already
	// holds an earlier run's users gives no userName conflicts.
	tenant := cfg.Tenant
	if tenant == "" {
		var b [4]byte
		rand.Read(b[:])
		tenant = "bench-" + hex.EncodeToString(b[:])
	}
	origin := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorSystem, ID: "scimtrail-bench"}, Channel: scimtrail.ChannelSystem}
	if _, _, err := svc.CreateTenant(ctx, origin, tenant, "scimtrail-bench"); err != nil && (cfg.Tenant == "" || scimtrail.ErrorCode(err) != scimtrail.ECONFLICT) {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	tok, _, err := svc.IssueToken(ctx, origin, tenant, scimtrail.TokenSCIM, "scimtrail-bench", 0)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	s.Token = tok.Secret
	s.svc, s.tenant = svc, tenant
	// Seeded resources carry the ledger actor a SCIM request with this token would.
	s.origin = service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorIdPSync, ID: tok.ID, TokenID: tok.ID, UserAgent: "scimtrail-bench (seed)"}, Channel: scimtrail.ChannelSCIM}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The same limits as `scimtrail serve`, so the in-process server is the real one.
	s.srv = &http.Server{
		Handler:           httpapi.NewHandler(svc, httpapi.Options{Logger: logger, Metrics: metrics, MaxBodyBytes: 4 << 20}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	s.URL = "http://" + ln.Addr().String() + "/scim/v2/" + tenant
	return s, nil
}

// SeedUser creates a user from its SCIM body through the service, as POST /Users does
// (same validation, state and ledger entries), without HTTP. It makes Server a Seeder.
func (s *Server) SeedUser(ctx context.Context, body []byte) (string, error) {
	return s.seed(ctx, scimtrail.UserResource, body)
}

// SeedGroup is SeedUser for POST /Groups.
func (s *Server) SeedGroup(ctx context.Context, body []byte) (string, error) {
	return s.seed(ctx, scimtrail.GroupResource, body)
}

func (s *Server) seed(ctx context.Context, typ scimtrail.ResourceType, body []byte) (string, error) {
	o := s.origin
	o.Received = time.Now().UTC()
	v, _, err := s.svc.CreateResource(ctx, o, s.tenant, typ, body)
	return v.Resource.ID, err
}

// BatchStats returns how many write batches the store committed and how many commands they
// held in total, since the server started.
func (s *Server) BatchStats() (batches, commands int64) {
	return s.batches.Load(), s.commands.Load()
}

// Close stops the HTTP server and then the store, in that order: the store's Close flushes
// queued writes, so nothing may still be handing it new ones.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, s.store.Close())
}
