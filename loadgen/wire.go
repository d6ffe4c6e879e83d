package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The load tool speaks HTTP/1.1 on its own connections instead of through net/http's
// Transport. It shares the machine's 2 cores with the server it measures, and the
// Transport's per-request machinery (a write goroutine and a read goroutine per connection,
// channel hand-offs between them and the caller, a timer per request, a Request and a
// Response with their header maps) was ≈ 20% of the process's CPU in a GET-only run. Here a
// request is one write of bytes built in a reused buffer and the response is parsed in
// place; every status and content check stays as it was.

// endpoint is where a run's requests go, taken apart once from its base URL.
type endpoint struct {
	origin string // scheme://host, the prefix cut from every URL to get the request target
	host   string // the Host header
	addr   string // host:port to dial
	tls    *tls.Config
}

func parseEndpoint(base string) (endpoint, error) {
	u, err := url.Parse(base)
	if err != nil {
		return endpoint{}, fmt.Errorf("loadgen: BaseURL: %w", err)
	}
	e := endpoint{origin: u.Scheme + "://" + u.Host, host: u.Host}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		e.tls = &tls.Config{ServerName: u.Hostname()}
	default:
		return endpoint{}, fmt.Errorf("loadgen: BaseURL %q is not http:// or https://", base)
	}
	e.addr = net.JoinHostPort(u.Hostname(), port)
	return e, nil
}

// requestTimeout bounds a request that gets no answer, so that a hung server ends a run
// with errors instead of hanging it.
const requestTimeout = 60 * time.Second

// wire is one worker's keep-alive connection; nil nc means the next request dials.
type wire struct {
	nc       net.Conn
	br       *bufio.Reader
	stop     func() bool // unregisters the context.AfterFunc of nc
	deadline time.Time   // nc's current read/write deadline
	out      []byte      // the request being sent
	body     []byte      // the last response body
}

// roundTrip sends w.out and reads the response into w.body, returning its status. Any
// error closes the connection, so the next request starts on a fresh one.
func (w *wire) roundTrip(ctx context.Context, e *endpoint) (int, error) {
	if w.nc == nil {
		if err := w.dial(ctx, e); err != nil {
			return 0, err
		}
	}
	// Moving a deadline costs a timer update; moving it only when less than 50 s remain
	// still gives every request at least 50 s.
	if now := time.Now(); w.deadline.Sub(now) < requestTimeout-10*time.Second {
		w.deadline = now.Add(requestTimeout)
		w.nc.SetDeadline(w.deadline)
	}
	status, keep, err := w.exchange()
	if err != nil || !keep {
		w.close()
	}
	return status, err
}

func (w *wire) dial(ctx context.Context, e *endpoint) error {
	var nc net.Conn
	var err error
	if e.tls != nil {
		d := tls.Dialer{Config: e.tls}
		nc, err = d.DialContext(ctx, "tcp", e.addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", e.addr)
	}
	if err != nil {
		return err
	}
	// Stopping the run interrupts a request in flight, as cancelling it would in net/http.
	w.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	w.nc, w.deadline = nc, time.Time{}
	if w.br == nil {
		w.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		w.br.Reset(nc)
	}
	return nil
}

func (w *wire) close() {
	if w.nc != nil {
		w.stop()
		w.nc.Close()
		w.nc = nil
	}
}

// exchange writes the request and reads one response: status line, headers, and a body
// framed by Content-Length, by chunked transfer coding, or by the end of the connection.
// keep reports whether the connection may carry another request.
func (w *wire) exchange() (status int, keep bool, err error) {
	if _, err := w.nc.Write(w.out); err != nil {
		return 0, false, err
	}
	line, err := w.br.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("reading the status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keep = line[7] == '1'
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked := int64(-1), false
	for {
		line, err = w.br.ReadSlice('\n')
		if err != nil {
			return status, false, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return status, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") {
				return status, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			chunked = true
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			}
		}
	}
	w.body = w.body[:0]
	switch {
	case status == 204 || status == 304 || status < 200:
	case chunked:
		if w.body, err = readAll(httputil.NewChunkedReader(w.br), w.body); err != nil {
			return status, false, fmt.Errorf("reading the chunked body: %w", err)
		}
		// The chunked reader stops after the last chunk; the trailer section up to its
		// empty line is still on the connection.
		for {
			line, err = w.br.ReadSlice('\n')
			if err != nil {
				return status, false, fmt.Errorf("reading the trailer: %w", err)
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
	case length >= 0:
		w.body = slices.Grow(w.body, int(length))[:length]
		if _, err := io.ReadFull(w.br, w.body); err != nil {
			return status, false, fmt.Errorf("reading the body: %w", err)
		}
	default:
		keep = false
		if w.body, err = readAll(w.br, w.body); err != nil {
			return status, false, fmt.Errorf("reading the body: %w", err)
		}
	}
	return status, keep, nil
}

// readAll appends everything r yields to dst, reusing dst's capacity.
func readAll(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, 4096)
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// asciiEqualFold is bytes.EqualFold for a constant ASCII s, without converting b.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
