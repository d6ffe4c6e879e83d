package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/heapwatch"
)

// TestAbuse sends hostile requests and checks that each gets a clear error, changes
// nothing, and that the process's heap stays bounded throughout.
func TestAbuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		runtime.GC()
		w := heapwatch.Start()
		tok := e.scim["acme"]
		before := e.snapshot("acme")

		t.Run("BodyOverLimit", func(t *testing.T) {
			big := `{"schemas":["` + userSchema + `"],"userName":"big@example.com","displayName":"` + strings.Repeat("x", 2<<20) + `"}`
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, big), 413, "")
			// Declared length over the limit, and a chunked body with no length at all.
			scimError(t, e.doStream("POST", "/scim/v2/acme/Users", tok, strings.NewReader(big)), 413, "")
			apiError(t, e.do("POST", "/api/v1/tenants", e.operator, `{"id":"big","name":"`+strings.Repeat("x", 2<<20)+`"}`), 413, "too_large")
		})
		t.Run("NestedJSON", func(t *testing.T) {
			deep := `{"schemas":["` + userSchema + `"],"userName":"deep@example.com","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, deep), 400, "invalidSyntax")
			// Exactly 10,000 deep is within encoding/json's limit: valid JSON, not a User.
			deepObj := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, deepObj), 400, "invalidValue")
			deeper := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, deeper), 400, "invalidSyntax")
			patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"displayName","value":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}]}`
			scimError(t, e.do("PATCH", "/scim/v2/acme/Users/nobody", tok, patch), 400, "invalidSyntax")
			// Just under the decoder's limit it is valid JSON but not a valid User.
			ok := `{"schemas":["` + userSchema + `"],"userName":"deep2@example.com","nickName":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
			if r := e.do("POST", "/scim/v2/acme/Users", tok, ok); r.status != 400 {
				t.Errorf("nickName nested 5000 deep: status %d, want 400; body %.300s", r.status, r.body)
			}
		})
		t.Run("HugeArrays", func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"schemas":["` + userSchema + `"],"userName":"arr@example.com","emails":[`)
			for i := range 100_000 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"value":"u%d@example.com"}`, i)
			}
			b.WriteString(`]}`)
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, b.String()), 413, "")
			// 100k elements that fit in the body limit: the wrong type, said clearly.
			small := `{"schemas":["` + userSchema + `"],"userName":"arr@example.com","emails":[` + strings.Repeat("1,", 99_999) + `1]}`
			r := e.do("POST", "/scim/v2/acme/Users", tok, small)
			scimError(t, r, 400, "invalidValue")
			if len(r.body) > 2048 {
				t.Errorf("the error for a 100k-element array is %d bytes; it should not echo the input", len(r.body))
			}
			ops := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Repeat(`{"op":"remove","path":"x"},`, 30_000) + `{"op":"remove","path":"x"}]}`
			if r := e.do("PATCH", "/scim/v2/acme/Users/nobody", tok, ops); r.status != 400 && r.status != 404 {
				t.Errorf("PATCH with 30k operations: status %d; body %.300s", r.status, r.body)
			}
		})
		t.Run("HugeFilters", func(t *testing.T) {
			long := `userName eq "` + strings.Repeat("a", 1<<20) + `"`
			search := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"` + long[:len(long)-1] + `\""}`
			if r := e.do("POST", "/scim/v2/acme/Users/.search", tok, search); r.status != 413 && r.status != 400 {
				t.Errorf("1 MB filter in .search: status %d; body %.300s", r.status, r.body)
			}
			ors := strings.Repeat(`userName eq "a" or `, 40_000) + `userName eq "a"`
			if r := e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{"filter": ors}); r.status != 400 && r.status != 413 && r.status != 200 {
				t.Errorf("filter with 40k or: status %d; body %.300s", r.status, r.body)
			}
			parens := strings.Repeat("(", 200_000) + `userName eq "a"` + strings.Repeat(")", 200_000)
			r := e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{"filter": parens})
			scimError(t, r, 400, "invalidFilter")
			nots := strings.Repeat("not (", 100_000) + `userName eq "a"` + strings.Repeat(")", 100_000)
			scimError(t, e.do("POST", "/scim/v2/acme/Users/.search", tok, map[string]any{"filter": nots}), 400, "invalidFilter")
			// In the URL: a 1 MB query string is refused before it is parsed.
			if r := e.do("GET", "/scim/v2/acme/Users?filter="+url.QueryEscape(long), tok, nil); r.status != 400 && r.status != 413 && r.status != 414 && r.status != 431 {
				t.Errorf("1 MB filter in the URL: status %d; body %.300s", r.status, r.body)
			}
			scimError(t, e.do("GET", "/scim/v2/acme/Users?filter="+url.QueryEscape(strings.Repeat("(", 50_000)), tok, nil), 400, "invalidFilter")
		})
		t.Run("Paging", func(t *testing.T) {
			for i := range 3 {
				e.must(e.do("POST", "/scim/v2/acme/Users", tok, map[string]any{"schemas": []string{userSchema}, "userName": fmt.Sprintf("page%d@example.com", i)}), 201)
			}
			r := e.must(e.do("GET", "/scim/v2/acme/Users?count=1000000000", tok, nil), 200)
			if n := r.json()["itemsPerPage"]; n != float64(3) {
				t.Errorf("count=1000000000: itemsPerPage %v, want 3", n)
			}
			r = e.must(e.do("GET", "/scim/v2/acme/Users?startIndex=-5&count=2", tok, nil), 200)
			if got := r.json()["startIndex"]; got != float64(1) {
				t.Errorf("startIndex=-5: startIndex %v, want 1", got)
			}
			if n := r.json()["itemsPerPage"]; n != float64(2) {
				t.Errorf("startIndex=-5&count=2: itemsPerPage %v, want 2", n)
			}
			r = e.must(e.do("GET", "/scim/v2/acme/Users?count=-7", tok, nil), 200)
			if n := r.json()["itemsPerPage"]; n != float64(0) {
				t.Errorf("count=-7: itemsPerPage %v, want 0", n)
			}
			for _, q := range []string{"count=99999999999999999999999", "startIndex=1e9999", "count=abc", "startIndex=0x10"} {
				scimError(t, e.do("GET", "/scim/v2/acme/Users?"+q, tok, nil), 400, "invalidValue")
			}
			r = e.do("GET", "/scim/v2/acme/Users?startIndex=9223372036854775807&count=1000000000", tok, nil)
			if r.status != 200 && r.status != 400 {
				t.Errorf("startIndex=MaxInt64: status %d; body %s", r.status, r.body)
			}
			// The audit log's limit is capped the same way.
			e.must(e.do("GET", "/api/v1/tenants/acme/audit?limit=1000000000", e.operator, nil), 200)
			// These creates are the only writes of the abuse run.
			before = e.snapshot("acme")
		})
		t.Run("Headers", func(t *testing.T) {
			garbage := []string{
				"Bearer " + strings.Repeat("A", 60_000),
				"Basic Zm9vOmJhcg==",
				"Bearer",
				"bearer  " + tok + "x",
				strings.Repeat("Bearer ", 1000),
			}
			for _, g := range garbage {
				r := e.do("GET", "/scim/v2/acme/Users", "", nil, "Authorization", g)
				scimError(t, r, 401, "")
			}
			scimError(t, e.do("POST", "/scim/v2/acme/Users", tok, `{}`, "Content-Type", "text/html; charset=\"\""), 400, "invalidSyntax")
			r := e.do("PUT", "/scim/v2/acme/Users/nobody", tok, map[string]any{"schemas": []string{userSchema}, "userName": "x"}, "If-Match", strings.Repeat(`W/"`, 5000))
			if r.status != 404 && r.status != 412 && r.status != 400 {
				t.Errorf("garbage If-Match: status %d", r.status)
			}
			// A 200 KB header block and one with a line break in a value: refused by the
			// server before any handler, over a raw socket because Go's client will not send them.
			for _, raw := range []string{
				"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 2<<20) + "\r\n\r\n",
				"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rb\r\n\r\n",
				"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\x7f\r\n\r\n",
				"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-H: 1\r\n", 40_000) + "\r\n",
				"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n",
			} {
				status := rawStatus(t, e.srv.Listener.Addr().String(), raw)
				if status < 400 || status >= 500 {
					t.Errorf("raw request %.40q: status %d, want a 4xx", raw, status)
				}
			}
			// The server still answers.
			e.must(e.do("GET", "/scim/v2/acme/Users", tok, nil), 200)
		})
		if after := e.snapshot("acme"); after != before {
			t.Errorf("an abusive request changed the tenant:\nbefore %s\nafter  %s", before, after)
		}
		peak := w.Stop()
		t.Logf("peak live heap during the abuse run: %d MiB", peak>>20)
		if peak > heapwatch.Bound {
			t.Errorf("peak live heap %d MiB, over the bound of %d MiB", peak>>20, heapwatch.Bound>>20)
		}
		if strings.Contains(e.logs.String(), "panic") {
			t.Errorf("a handler panicked:\n%s", e.logs.String())
		}
	})
}

// rawStatus writes raw on a fresh connection and returns the response's status code, or 0
// when the server closed the connection without one (which also counts as a refusal
// for the caller if it expects one; the callers here expect a status).
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { io.WriteString(c, raw) }()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Errorf("raw request %.40q: no response: %v", raw, err)
		return 0
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Errorf("raw request %.40q: bad status line %q", raw, line)
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// TestRateLimit checks the per-tenant token bucket by counts: with a burst of 10 and a
// refill too slow to matter during the test, a flooding tenant gets exactly 10 requests
// through and 429 with Retry-After for the rest, and writes nothing with them; another
// tenant keeps its full burst.
func TestRateLimit(t *testing.T) {
	forEachBackendOpts(t, envOptions{rateLimit: 0.0001, rateBurst: 10}, func(t *testing.T, e *env) {
		heapwatch.Bounded(t)
		// newEnv spent 4 of the operator's 10: two tenants, two tokens.
		var ok, limited int
		for i := range 25 {
			r := e.do("POST", "/scim/v2/acme/Users", e.scim["acme"], map[string]any{"schemas": []string{userSchema}, "userName": fmt.Sprintf("flood%d@example.com", i)})
			switch r.status {
			case 201:
				ok++
			case 429:
				limited++
				scimError(t, r, 429, "")
				if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("Retry-After %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
				}
			default:
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		}
		if ok != 10 || limited != 15 {
			t.Errorf("acme's flood: %d created, %d limited; want 10 and 15", ok, limited)
		}
		// globex is untouched by acme's flood: its whole burst, then 429.
		for i := range 10 {
			e.must(e.do("GET", "/scim/v2/globex/Users", e.scim["globex"], nil), 200)
			_ = i
		}
		scimError(t, e.do("GET", "/scim/v2/globex/Users", e.scim["globex"], nil), 429, "")
		// Naming acme in the path with globex's (spent) token or no token spends nothing
		// of acme's: the bucket is the authenticated token's.
		apiError(t, e.do("GET", "/api/v1/tenants/acme", "", nil), 401, "unauthorized")
		// The operator has its own bucket, with 6 left: what acme's flood wrote is
		// exactly the 10 acknowledged users.
		r := e.must(e.do("GET", "/scim/v2/acme/Users?count=100", e.operator, nil), 200)
		if n := r.json()["totalResults"]; n != float64(10) {
			t.Errorf("acme has %v users, want the 10 acknowledged", n)
		}
		audit := e.must(e.do("GET", "/api/v1/tenants/acme/audit?limit=1000", e.operator, nil), 200)
		if created := strings.Count(string(audit.body), `"action":"user.created"`); created != 10 {
			t.Errorf("acme's log has %d user.created entries, want 10", created)
		}
		// 4 + 2 spent: 4 left, then the admin API's own 429 shape.
		for range 4 {
			e.must(e.do("GET", "/api/v1/tenants", e.operator, nil), 200)
		}
		r = e.do("GET", "/api/v1/tenants", e.operator, nil)
		apiError(t, r, 429, "too_many")
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
}

// doStream sends body with chunked transfer encoding: no Content-Length for the server to
// refuse up front, so the limit must hold while reading.
func (e *env) doStream(method, path, token string, body io.Reader) resp {
	e.t.Helper()
	return e.do(method, path, token, struct{ io.Reader }{body})
}

// soak reports whether the long forms of the reliability tests were asked for (make soak).
func soak() bool { return os.Getenv("SCIMTRAIL_SOAK") != "" }
