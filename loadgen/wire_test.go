package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rawServer answers each request on a connection with the next of replies, written as
// they are, and closes the connection when the replies run out.
func rawServer(t *testing.T, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for _, reply := range replies {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					io.WriteString(nc, reply)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/scim/v2/t"
}

// TestWireFraming checks the response framings the load tool's own HTTP client must
// read: Content-Length, chunked with a trailer, and a body ended by closing the
// connection, on one keep-alive connection while the server allows it.
func TestWireFraming(t *testing.T) {
	base := rawServer(t,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
	)
	r := &runner{base: base, auth: "Bearer x"}
	var err error
	if r.ep, err = parseEndpoint(base); err != nil {
		t.Fatal(err)
	}
	var c conn
	c.init(r)
	defer c.w.close()
	ctx := context.Background()
	steps := []struct {
		status int
		body   string
		keep   bool
	}{{200, "hello", true}, {201, "abcde", true}, {404, "", true}, {200, "until the end", false}}
	var first net.Conn
	for i, s := range steps {
		// The 404 is asked for as a 200: the mismatch must be reported with the body quoted.
		want := s.status
		if want == 404 {
			want = 200
		}
		_, err := c.do(ctx, http.MethodPost, base+"/Users", []byte(`{}`), want, nil)
		switch {
		case s.status == 404:
			if err == nil || !strings.Contains(err.Error(), "status 404, want 200: nope") {
				t.Fatalf("step %d: err = %v, want the 404 reported with its body", i, err)
			}
		case err != nil:
			t.Fatalf("step %d: %v", i, err)
		case string(c.w.body) != s.body:
			t.Fatalf("step %d: body %q, want %q", i, c.w.body, s.body)
		}
		if i == 0 {
			first = c.w.nc
		}
		if s.keep && c.w.nc != first {
			t.Fatalf("step %d: the keep-alive connection was not reused", i)
		}
		if !s.keep && c.w.nc != nil {
			t.Fatalf("step %d: the connection was kept after the body ran to its end", i)
		}
	}
	// The server closed; the next request dials again and fails cleanly if nobody answers.
	if _, err := c.do(ctx, http.MethodGet, "http://elsewhere.example/x", nil, 200, nil); err == nil {
		t.Fatal("a URL outside the base was sent")
	}
}

// TestWireTLS runs requests over https, with the test server's certificate trusted.
func TestWireTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer x" || r.Host == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(strings.Repeat("y", 10000))) // past net/http's buffer: chunked
	}))
	defer srv.Close()
	base := srv.URL + "/scim/v2/t"
	r := &runner{base: base, auth: "Bearer x"}
	var err error
	if r.ep, err = parseEndpoint(base); err != nil {
		t.Fatal(err)
	}
	r.ep.tls = srv.Client().Transport.(*http.Transport).TLSClientConfig
	var c conn
	c.init(r)
	defer c.w.close()
	for range 3 {
		if _, err := c.do(context.Background(), http.MethodGet, base+"/Users", nil, 200, nil); err != nil {
			t.Fatal(err)
		}
		if len(c.w.body) != 10000 {
			t.Fatalf("body of %d bytes, want 10000", len(c.w.body))
		}
	}
}

// TestWireCancel checks that stopping the run ends a request the server never answers.
func TestWireCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			defer nc.Close()
			io.Copy(io.Discard, nc) // reads, never answers
		}
	}()
	base := "http://" + ln.Addr().String() + "/scim/v2/t"
	r := &runner{base: base, auth: "Bearer x"}
	if r.ep, err = parseEndpoint(base); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var c conn
	c.init(r)
	defer c.w.close()
	done := make(chan error, 1)
	go func() {
		_, err := c.do(ctx, http.MethodGet, base+"/Users", nil, 200, nil)
		done <- err
	}()
	cancel()
	if err := <-done; err == nil || !c.cancelled(ctx, err) {
		t.Fatalf("err = %v, want the request cut off by the cancelled run", err)
	}
}
