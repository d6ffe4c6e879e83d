package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/heapwatch"
)

// TestSlowloris keeps a few hundred connections to a real `serve` open that send their
// headers a byte at a time and never finish — each slow client reconnects as soon as it is
// dropped — while ordinary clients keep working for three seconds: every ordinary request
// succeeds, with a bounded p99, and the server's ReadHeaderTimeout closes every slow
// connection before it has sent a complete request (none of them ever gets a response).
// The timeout is set to one second for the test; the slow clients would dribble for ever.
func TestSlowloris(t *testing.T) {
	slow := 200
	if os.Getenv("SCIMTRAIL_SOAK") != "" {
		slow = 800
	}
	heapwatch.Bounded(t) // the server runs in this process
	operator := randomToken()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	stderr := &syncBuffer{}
	m := &Main{Stdout: io.Discard, Stderr: stderr, Getenv: env{"SCIMTRAIL_BOOTSTRAP_TOKEN": operator}.get, Ready: ready, readHeaderTimeout: time.Second}
	go func() {
		done <- m.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", t.TempDir() + "/scimtrail.db"})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	op := client{tb: t, base: base, token: operator}
	op.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]string{"id": "acme", "name": "Acme"}, nil)
	var tok issued
	op.must(http.StatusCreated, "POST", "/api/v1/tenants/acme/tokens", map[string]string{"kind": "scim"}, &tok)
	addr := strings.TrimPrefix(base, "http://")
	// The same ordinary clients for a second with no slow sockets: the machine's own pace.
	stopBase := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stopBase) })
	baseline, _ := ordinaryClients(t, base, tok.Token, "before", stopBase)
	slices.Sort(baseline)

	// The attack: slow clients that each reconnect as soon as the server drops them, their
	// first connections spread over a second so that the server sees a steady stream of
	// slow sockets, slow in total, not one wave.
	var (
		opened   atomic.Int64 // slow connections made
		closed   atomic.Int64 // slow connections the server closed
		answered atomic.Int64 // slow connections that got any response: must stay 0
		wg       sync.WaitGroup
	)
	stopSlow := make(chan struct{})
	for i := range slow {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Second / time.Duration(slow))
			for {
				select {
				case <-stopSlow:
					return
				default:
				}
				opened.Add(1)
				gotClosed, gotAnswer := slowConnection(t, addr)
				if gotClosed {
					closed.Add(1)
				}
				if gotAnswer {
					answered.Add(1)
				}
			}
		})
	}

	// Ordinary clients for three read-header timeouts while the slow ones keep coming.
	time.Sleep(time.Second)
	stop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(stop) })
	latencies, failures := ordinaryClients(t, base, tok.Token, "during", stop)
	close(stopSlow)
	wg.Wait()

	if got, want := closed.Load(), opened.Load(); got != want || want < int64(slow) {
		t.Errorf("%d of %d slow connections were closed by the server (%d slow clients)", got, want, slow)
	}
	if n := answered.Load(); n != 0 {
		t.Errorf("%d slow connections got a response to a request they never finished", n)
	}
	if len(latencies) < 10 || failures > 0 {
		t.Fatalf("%d ordinary requests, %d failed", len(latencies), failures)
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("%d slow clients, %d slow connections closed; %d ordinary requests meanwhile, p50 %v, p99 %v, max %v",
		slow, closed.Load(), len(latencies), latencies[len(latencies)/2], p99, latencies[len(latencies)-1])
	// The goal is a p99 under 200 ms (met in docs/reliability.md's measurements);
	// the assertion allows five times that for -race on a loaded 2-core CI machine, or
	// three times the p99 of the same clients without slow sockets when the machine is
	// slower than that. Slow sockets that starved the server would cost ordinary clients
	// the read-header timeout (1 s here) or more.
	basePct := baseline[len(baseline)*99/100]
	limit := max(time.Second, 3*basePct)
	t.Logf("without slow sockets: %d requests, p99 %v; limit %v", len(baseline), basePct, limit)
	if p99 > limit {
		t.Errorf("ordinary requests during slowloris: p99 %v, over %v", p99, limit)
	}
}

// dribble is how often a slow client sends a byte: twice per read-header timeout of the
// test (the "a byte every few seconds", scaled down as the timeout is).
const dribble = 500 * time.Millisecond

// slowConnection sends a request's headers a byte every dribble and never finishes them,
// until the server hangs up. It reports whether the server closed the connection (rather
// than the two-minute safety deadline passing) and whether it answered the unfinished
// request (which fails the test).
func slowConnection(t *testing.T, addr string) (closedByServer, answered bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return false, false
	}
	defer c.Close()
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		c.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a hang fails, not a slow pass
		got, err := io.ReadAll(c)
		// The server may say 400 or 408 as it hangs up; what it must never do is serve
		// the unfinished request.
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408 ") && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
			answered = true
			t.Errorf("a slow connection got %.200q", got)
		}
		closedByServer = err == nil || !isTimeout(err)
	}()
	head := "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	for j := 0; ; j++ {
		var ch byte
		if j < len(head) {
			ch = head[j]
		} else {
			const line = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n"
			ch = line[(j-len(head))%len(line)]
		}
		if _, err := c.Write([]byte{ch}); err != nil {
			break
		}
		select {
		case <-gone:
		case <-time.After(dribble):
			continue
		}
		break
	}
	<-gone
	return closedByServer, answered
}

// ordinaryClients runs 4 clients that alternate listing and creating users until stop is
// closed, and returns every request's latency and how many failed (each also fails t).
func ordinaryClients(t *testing.T, base, token, tag string, stop <-chan struct{}) ([]time.Duration, int) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		cw        sync.WaitGroup
	)
	hc := &http.Client{Timeout: 30 * time.Second}
	for w := range 4 {
		cw.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				var status int
				var err error
				var res *http.Response
				if i%2 == 0 {
					req, _ := http.NewRequest("GET", base+"/scim/v2/acme/Users?count=10", nil)
					req.Header.Set("Authorization", "Bearer "+token)
					res, err = hc.Do(req)
				} else {
					body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s-w%d-%d@example.com"}`, tag, w, i)
					req, _ := http.NewRequest("POST", base+"/scim/v2/acme/Users", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/scim+json")
					res, err = hc.Do(req)
				}
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				if err != nil || (status != 200 && status != 201) {
					failures++
					t.Errorf("ordinary request (%s slowloris): status %d, %v", tag, status, err)
				}
				mu.Unlock()
			}
		})
	}
	cw.Wait()
	return latencies, failures
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
