package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/serverkey"
	"github.com/scimtrail/scimtrail/service"
)

// replica is one server over a shared store, with the keys derived from its server key.
func replica(t *testing.T, store scimtrail.Store, key []byte) (*httptest.Server, *service.Service) {
	t.Helper()
	svc := service.New(store, service.Options{CursorKey: serverkey.Derive(key, serverkey.CursorLabel)})
	srv := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler), SessionKey: serverkey.Derive(key, serverkey.SessionLabel)}))
	t.Cleanup(srv.Close)
	return srv, svc
}

func send(t *testing.T, method, u, token, cookie string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	ct := "application/scim+json"
	if strings.Contains(u, "/api/") {
		ct = "application/json"
	}
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, u, rd)
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// TestServerKeySharedByReplicas: two servers over one database with the same server key
// honour each other's SCIM cursors and console sessions; a server with another key refuses
// both (invalidCursor, and a sign-in redirect).
func TestServerKeySharedByReplicas(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t, nil)
			key, other := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
			a, svc := replica(t, store, key)
			bb, _ := replica(t, store, key)
			c, _ := replica(t, store, other)
			op, _, err := svc.Bootstrap(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			if st, _, body := send(t, "POST", a.URL+"/api/v1/tenants", op, "", map[string]any{"id": "acme", "name": "Acme"}); st != 201 {
				t.Fatalf("create tenant: %d %s", st, body)
			}
			for _, n := range []string{"ann", "bob", "cy"} {
				if st, _, body := send(t, "POST", a.URL+"/scim/v2/acme/Users", op, "", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": n}); st != 201 {
					t.Fatalf("create user: %d %s", st, body)
				}
			}
			_, _, body := send(t, "GET", a.URL+"/scim/v2/acme/Users?cursor&count=1", op, "", nil)
			var page struct{ NextCursor string }
			json.Unmarshal(body, &page)
			if page.NextCursor == "" {
				t.Fatalf("first cursor page has no nextCursor: %s", body)
			}
			next := "/scim/v2/acme/Users?count=1&cursor=" + url.QueryEscape(page.NextCursor)
			if st, _, body := send(t, "GET", bb.URL+next, op, "", nil); st != 200 || !strings.Contains(string(body), `"bob"`) {
				t.Errorf("cursor on a replica with the same key: %d %s", st, body)
			}
			st, _, body := send(t, "GET", c.URL+next, op, "", nil)
			if st != 400 || !strings.Contains(string(body), `"invalidCursor"`) {
				t.Errorf("cursor on a server with another key: %d %s, want 400 invalidCursor", st, body)
			}

			st, h, body := send(t, "POST", a.URL+"/console/signin", "", "", url.Values{"token": {op}})
			cookie, _, _ := strings.Cut(h.Get("Set-Cookie"), ";")
			if st != http.StatusSeeOther || cookie == "" {
				t.Fatalf("console sign-in: %d, cookie %q: %s", st, cookie, body)
			}
			if st, _, body := send(t, "GET", bb.URL+"/console/t/acme/", "", cookie, nil); st != 200 {
				t.Errorf("session cookie on a replica with the same key: %d %s", st, body)
			}
			if st, h, _ := send(t, "GET", c.URL+"/console/t/acme/", "", cookie, nil); st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/console/signin") {
				t.Errorf("session cookie on a server with another key: %d to %q, want a redirect to sign in", st, h.Get("Location"))
			}
		})
	}
}
