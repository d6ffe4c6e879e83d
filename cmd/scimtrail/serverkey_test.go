package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerKey: the first start creates server.key beside the SQLite database (0600, 32
// bytes); a cursor issued before a restart still works after it, and with the same key given
// as SCIMTRAIL_SERVER_KEY; another key makes it invalidCursor.
func TestServerKey(t *testing.T) {
	dsn := backends()[0].newDSN(t)
	op := randomToken()
	e := env{"SCIMTRAIL_BOOTSTRAP_TOKEN": op}
	s := startServer(t, e, dsn)
	keyFile := filepath.Join(filepath.Dir(dsn), "server.key")
	key, err := os.ReadFile(keyFile)
	if err != nil || len(key) != 32 {
		t.Fatalf("server key file: %d bytes, %v", len(key), err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("server key file mode %v, want 0600", fi.Mode().Perm())
	}
	if strings.Contains(s.stderr.String(), base64.StdEncoding.EncodeToString(key)) {
		t.Error("the server key was logged")
	}
	c := client{tb: t, base: s.URL, token: op}
	c.must(http.StatusCreated, "POST", "/api/v1/tenants", map[string]any{"id": "acme", "name": "Acme"}, nil)
	for _, n := range []string{"ann@example.com", "bob@example.com"} {
		c.must(http.StatusCreated, "POST", "/scim/v2/acme/Users", oktaUser(n, "A", "B"), nil)
	}
	var page struct{ NextCursor string }
	c.must(http.StatusOK, "GET", "/scim/v2/acme/Users?cursor&count=1", nil, &page)
	next := "/scim/v2/acme/Users?count=1&cursor=" + url.QueryEscape(page.NextCursor)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	restart := func(e env) client {
		s := startServer(t, e, dsn)
		return client{tb: t, base: s.URL, token: op}
	}
	c = restart(e)
	c.must(http.StatusOK, "GET", next, nil, nil)
	if k, _ := os.ReadFile(keyFile); !bytes.Equal(k, key) {
		t.Error("a restart replaced the server key")
	}
	c = restart(env{"SCIMTRAIL_BOOTSTRAP_TOKEN": op, "SCIMTRAIL_SERVER_KEY": base64.StdEncoding.EncodeToString(key)})
	c.must(http.StatusOK, "GET", next, nil, nil)
	c = restart(env{"SCIMTRAIL_BOOTSTRAP_TOKEN": op, "SCIMTRAIL_SERVER_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))})
	if st, body := c.do("GET", next, nil); st != http.StatusBadRequest || !strings.Contains(string(body), "invalidCursor") {
		t.Errorf("cursor under another key: %d %s, want 400 invalidCursor", st, body)
	}
	if r := runCLI(t, env{"SCIMTRAIL_SERVER_KEY": "short"}, "serve", "--addr", "127.0.0.1:0", "--db", dsn); r.code != 2 && r.code != 1 {
		t.Errorf("a malformed SCIMTRAIL_SERVER_KEY: exit %d, want failure", r.code)
	}
}
