package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/client"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// server is the real scimtrail handler over SQLite with tenant acme and an app token of
// it. fail, when it returns true for a request, makes the server process the request and
// then answer 503 as if the response were lost, which is the case idempotency keys exist for.
type server struct {
	*httptest.Server
	svc      *service.Service
	app      string
	requests atomic.Int64
	fail     func(n int64) bool
}

func newServer(t testing.TB) *server {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	op := service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorAdmin, ID: "test"}, Channel: scimtrail.ChannelAdminAPI}
	if _, _, err := svc.CreateTenant(t.Context(), op, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.IssueToken(t.Context(), op, "acme", scimtrail.TokenApp, "app", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{svc: svc, app: tok.Secret}
	h := httpapi.NewHandler(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		if s.fail != nil && s.fail(n) {
			h.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "lost", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) logSize(t *testing.T) int {
	t.Helper()
	n := 0
	for {
		es, err := s.svc.AuditEntries(t.Context(), "acme", int64(n), 1000, scimtrail.EntryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return n
		}
		n += len(es)
	}
}

func events(n int) []client.Event {
	out := make([]client.Event, n)
	for i := range out {
		out[i] = client.Event{Action: "app.report.viewed", Actor: client.Actor{ID: "u-1"},
			Targets: []client.Target{{Type: "Report", ID: fmt.Sprint("r-", i)}}, Metadata: map[string]any{"i": i}}
	}
	return out
}

func TestRecordEventsBatches(t *testing.T) {
	s := newServer(t)
	before := s.logSize(t)
	c := client.New(s.URL, s.app, client.WithBatchSize(400))
	res, err := c.RecordEvents(t.Context(), "acme", events(1000)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.requests.Load(); got != 3 {
		t.Errorf("%d requests for 1000 events in batches of 400, want 3", got)
	}
	for i, r := range res {
		if want := int64(before + i + 1); r.Seq != want || r.Replayed {
			t.Fatalf("event %d: %+v, want seq %d", i, r, want)
		}
	}
	if got, want := s.logSize(t), before+1000; got != want {
		t.Errorf("log has %d entries, want %d", got, want)
	}
}

func TestRecordEventsRetriesWithoutDuplicates(t *testing.T) {
	s := newServer(t)
	before := s.logSize(t)
	// The first two attempts are processed but their answers are lost.
	s.fail = func(n int64) bool { return n <= 2 }
	c := client.New(s.URL, s.app, client.WithRetries(3, time.Millisecond))
	res, err := c.RecordEvents(t.Context(), "acme", events(5)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.requests.Load(); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}
	if len(res) != 5 || !res[0].Replayed || res[0].Seq != int64(before+1) {
		t.Errorf("results %+v: want the original seqs, replayed", res)
	}
	if got, want := s.logSize(t), before+5; got != want {
		t.Errorf("log has %d entries after retries, want %d: a retry recorded the batch twice", got, want)
	}
}

func TestRecordEventsRefusalIsNotRetried(t *testing.T) {
	s := newServer(t)
	c := client.New(s.URL, s.app, client.WithRetries(3, time.Millisecond))
	_, err := c.RecordEvents(t.Context(), "acme", client.Event{Action: "user.deleted", Actor: client.Actor{ID: "u"}})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "invalid" {
		t.Fatalf("error %v, want a 400 *client.Error", err)
	}
	if got := s.requests.Load(); got != 1 {
		t.Errorf("%d attempts for a refusal, want 1", got)
	}
	// Retries give up when the context ends.
	s.fail = func(int64) bool { return true }
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.RecordEvents(ctx, "acme", events(1)...); err == nil {
		t.Error("RecordEvents with a cancelled context succeeded")
	}
}
