package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/export"
	"github.com/scimtrail/scimtrail/httpapi"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
	"github.com/scimtrail/scimtrail/sqlite"
)

// operator is the origin the test set-up acts as.
var operator = service.Origin{Actor: scimtrail.Actor{Type: scimtrail.ActorAdmin, ID: "test"}, Channel: scimtrail.ChannelAdminAPI}

// fixture is a running server with two tenants, acme and globex, and a token of each kind
// the tests sign in with.
type fixture struct {
	srv                      *httptest.Server
	svc                      *service.Service
	acmeAdmin, acmeAuditor   string
	globexAdmin, globexSCIM  string
	operatorSecret           string
	globexUserID, globexUser string
	skew                     atomic.Int64 // added to the wall clock: the service's clock
	// forged maps a path to the JSON body the server answers instead of its own, so browser
	// tests can show the console a wrong key or a tampered checkpoint.
	forged sync.Map
}

// forge makes the server answer GET path with body until the test ends.
func (f *fixture) forge(tb testing.TB, path, body string) {
	f.forged.Store(path, body)
	tb.Cleanup(func() { f.forged.Delete(path) })
}

func (f *fixture) serveForged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := f.forged.Load(r.URL.Path); ok {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body.(string))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// later moves the service's clock d forward, so tests can look at access "days ago".
func (f *fixture) later(d time.Duration) { f.skew.Add(int64(d)) }

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "scimtrail.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	f := &fixture{}
	ringText, err := ledger.NewKeyRing("scimtrail-test")
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(ringText)
	if err != nil {
		tb.Fatal(err)
	}
	// Sinks may deliver to loopback receivers, as a server run with --allow-private-sinks.
	sinkKey := make([]byte, service.SinkKeySize)
	rand.Read(sinkKey)
	svc := service.New(db, service.Options{Keys: ring, Now: func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) },
		Sinks: service.SinkOptions{Key: sinkKey, AllowPrivate: true}})
	f.svc = svc
	dctx, stop := context.WithCancel(context.Background())
	dispatcher := export.New(svc, export.Options{Logger: slog.New(slog.DiscardHandler), AllowPrivate: true,
		Poll: 50 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxFailures: 2,
		Checkpoint: svc.CheckpointRecord})
	dispatched := make(chan struct{})
	go func() { dispatcher.Run(dctx); close(dispatched) }()
	tb.Cleanup(func() { stop(); <-dispatched })
	for _, t := range [][2]string{{"acme", "Acme Corp"}, {"globex", "Globex Inc"}} {
		if _, _, err := svc.CreateTenant(ctx, operator, t[0], t[1]); err != nil {
			tb.Fatalf("CreateTenant %s: %v", t[0], err)
		}
	}
	issue := func(tenant string, kind scimtrail.TokenKind, name string) string {
		it, _, err := svc.IssueToken(ctx, operator, tenant, kind, name, 0)
		if err != nil {
			tb.Fatalf("IssueToken %s %s: %v", tenant, kind, err)
		}
		return it.Secret
	}
	f.acmeAdmin = issue("acme", scimtrail.TokenAdmin, "it-admin")
	f.acmeAuditor = issue("acme", scimtrail.TokenAuditor, "external-auditor")
	f.globexAdmin = issue("globex", scimtrail.TokenAdmin, "globex-admin")
	f.globexSCIM = issue("globex", scimtrail.TokenSCIM, "globex-okta")
	f.operatorSecret = issue("", scimtrail.TokenOperator, "ops")
	f.srv = httptest.NewServer(f.serveForged(httpapi.NewHandler(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler)})))
	tb.Cleanup(f.srv.Close)
	f.globexUser = "wile.e.coyote@globex.example"
	f.globexUserID = f.createUser(tb, "globex", f.globexSCIM, f.globexUser, "Wile E. Coyote")
	return f
}

// scim sends a SCIM request with a bearer token and returns the status and body.
func (f *fixture) scim(tb testing.TB, method, path, secret, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// createUser provisions a user the way Entra does and returns its id.
func (f *fixture) createUser(tb testing.TB, tenant, secret, userName, display string) string {
	tb.Helper()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName +
		`","displayName":"` + display + `","active":true,"emails":[{"value":"` + userName + `","type":"work","primary":true}]}`
	status, resp := f.scim(tb, "POST", "/scim/v2/"+tenant+"/Users", secret, body)
	if status != http.StatusCreated {
		tb.Fatalf("create user %s: %d %s", userName, status, resp)
	}
	return jsonField(tb, resp, "id")
}

func jsonField(tb testing.TB, doc, field string) string {
	tb.Helper()
	i := strings.Index(doc, `"`+field+`":"`)
	if i < 0 {
		tb.Fatalf("no %q in %s", field, doc)
	}
	rest := doc[i+len(field)+4:]
	return rest[:strings.IndexByte(rest, '"')]
}

// client is a browser-like HTTP client: it keeps cookies and does not follow redirects,
// so tests see where the console sends people.
func (f *fixture) client(tb testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs c in with secret and fails unless the console accepts it.
func (f *fixture) signIn(tb testing.TB, c *http.Client, secret string) {
	tb.Helper()
	status, _, loc := f.post(tb, c, "/console/signin", url.Values{"token": {secret}}, nil)
	if status != http.StatusSeeOther || loc != "/console/" {
		tb.Fatalf("sign in: status %d, Location %q; want 303 to /console/", status, loc)
	}
}

// post submits a form as a same-origin browser would (Sec-Fetch-Site: same-origin) unless
// header says otherwise, and returns the status, body and Location.
func (f *fixture) post(tb testing.TB, c *http.Client, path string, form url.Values, header http.Header) (int, string, string) {
	tb.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	return f.do(tb, c, req)
}

func (f *fixture) get(tb testing.TB, c *http.Client, path string) (int, string, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	return f.do(tb, c, req)
}

func (f *fixture) do(tb testing.TB, c *http.Client, req *http.Request) (int, string, string) {
	tb.Helper()
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), resp.Header.Get("Location")
}

// entries returns the actions and channels of tenant's ledger, in order.
func (f *fixture) entries(tb testing.TB, tenant string) []scimtrail.StoredEntry {
	tb.Helper()
	es, err := f.svc.AuditEntries(context.Background(), tenant, 0, 1000, scimtrail.EntryFilter{})
	if err != nil {
		tb.Fatalf("AuditEntries: %v", err)
	}
	return es
}

// createGroup provisions a group with the given members (users or groups) and returns its id.
func (f *fixture) createGroup(tb testing.TB, tenant, secret, name string, members ...string) string {
	tb.Helper()
	var ms []string
	for _, m := range members {
		ms = append(ms, `{"value":"`+m+`"}`)
	}
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"` + name + `","members":[` + strings.Join(ms, ",") + `]}`
	status, resp := f.scim(tb, "POST", "/scim/v2/"+tenant+"/Groups", secret, body)
	if status != http.StatusCreated {
		tb.Fatalf("create group %s: %d %s", name, status, resp)
	}
	return jsonField(tb, resp, "id")
}
