package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	appclient "github.com/scimtrail/scimtrail/client"
)

var errStop = errors.New("stop here")

// inOrder checks seqs 1..head arrived, each first arrival right after its predecessor.
func inOrder(t *testing.T, seqs []int64, head int64) {
	t.Helper()
	var top int64
	for _, s := range seqs {
		if s > top+1 {
			t.Fatalf("seq %d arrived before %d", s, top+1)
		}
		top = max(top, s)
	}
	if top != head {
		t.Fatalf("delivered up to %d, want %d", top, head)
	}
}

// TestExportAcrossServerRestart runs the real program with a webhook sink and an app that
// consumes the pull API with the client package; the server is stopped mid-stream and started
// again on the same database, and both consumers end with every entry, in order.
func TestExportAcrossServerRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		preset := randomToken()
		keyFile := filepath.Join(t.TempDir(), "sink.key")
		e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": preset, "SCIMTRAIL_ALLOW_PRIVATE_SINKS": "1", "SCIMTRAIL_SINK_KEY_FILE": keyFile}
		const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		rcv := &tenantHookReceiver{secret: secret}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: rcv}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })

		s := startServer(t, e, dsn)
		op := client{tb: t, base: s.URL, token: preset}
		op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme"}, nil)
		var scim, app issued
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &scim)
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "app"}, &app)
		var sink struct{ ID string }
		op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/sinks",
			map[string]any{"type": "webhook", "url": "http://" + ln.Addr().String() + "/hook", "secret": secret}, &sink)
		create := func(c client, n int, from int) {
			for i := range n {
				c.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(fmt.Sprintf("user%d@example.com", from+i), "U", "Ser"), nil)
			}
		}
		create(client{tb: t, base: s.URL, token: scim.Token}, 8, 0)
		if err := s.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}

		s = startServer(t, e, dsn)
		create(client{tb: t, base: s.URL, token: scim.Token}, 8, 100)
		op = client{tb: t, base: s.URL, token: preset}
		var st struct {
			Lag    int64  `json:"lag"`
			Cursor *int64 `json:"cursor"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/sinks/"+sink.ID, nil, &st); st.Lag != 0; op.must(http.StatusOK, "GET", "/api/v1/tenants/acme/sinks/"+sink.ID, nil, &st) {
			if time.Now().After(deadline) {
				t.Fatalf("sink still lags by %d", st.Lag)
			}
			time.Sleep(20 * time.Millisecond)
		}
		head := *st.Cursor
		rcv.mu.Lock()
		inOrder(t, rcv.seqs["acme"], head)
		if rcv.bad != 0 {
			t.Errorf("%d deliveries failed signature verification", rcv.bad)
		}
		rcv.mu.Unlock()
		// The checkpointer (every second by default) signs, and the sink delivers what it
		// signs: the customer gets checkpoint records beside the entries.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			rcv.mu.Lock()
			n := rcv.checkpoints
			rcv.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no checkpoint record arrived from the running server")
			}
		}

		// The app: consume everything with a stored cursor, stop, and resume.
		cursor := appclient.FileCursor(filepath.Join(t.TempDir(), "cursor"))
		var got []int64
		consume := func(stopAt int64) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := &appclient.Consumer{Client: appclient.New(s.URL, app.Token), Tenant: "acme", Cursor: cursor, Wait: time.Second,
				Handle: func(_ context.Context, ev appclient.Record) error {
					if ev.Seq > stopAt {
						return errStop // not handled: the cursor stays before it
					}
					got = append(got, ev.Seq)
					if ev.Seq == stopAt {
						cancel()
					}
					return nil
				}}
			if err := c.Run(ctx); err != context.Canceled && err != errStop {
				t.Fatalf("consumer: %v", err)
			}
		}
		consume(5)
		if saved, _ := cursor.Load(t.Context()); saved != 5 {
			t.Fatalf("cursor saved %d, want 5", saved)
		}
		consume(head)
		inOrder(t, got, head)
		if len(got) != int(head) {
			t.Errorf("the consumer saw %d events for %d entries: a resumed consumer must not repeat handled ones", len(got), head)
		}
	})
}
