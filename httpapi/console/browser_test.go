package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"

	"github.com/scimtrail/scimtrail/export/webhook"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

var screenshots = flag.Bool("screenshots", os.Getenv("SCIMTRAIL_SCREENSHOTS") == "1",
	"write a screenshot of each console page to docs/screenshots/")

// chromiumPath is Debian's chromium, which scripts/with-chromium installs (make test and
// .ci/run call it), so the browser tests always run rather than skip.
const chromiumPath = "/usr/bin/chromium"

// browser is the one headless chromium of this test binary; each test opens tabs in it.
var browser context.Context

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runWithBrowser(m))
}

func runWithBrowser(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		fmt.Fprintf(os.Stderr, "console browser tests need %s: run scripts/with-chromium (make test does)\n", chromiumPath)
		return 1
	}
	dir, err := os.MkdirTemp("", "scimtrail-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The machine may have no network at all: nothing chromium does on its own may need it.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// insecure.test is the test server under a name that is not localhost, so a page
		// served from it over http is not a secure context and has no WebCrypto.
		chromedp.Flag("host-resolver-rules", "MAP insecure.test 127.0.0.1"),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "starting chromium: %v\n", err)
		return 1
	}
	browser = ctx
	return m.Run()
}

// tab opens a new tab with its own cookies (a fresh browser context), closed when the test
// ends.
func tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// get runs one action that returns a value. An element found and then replaced before it
// was read (an htmx swap in between) fails with "Could not find node with given id" before
// the action does anything, so get finds it again, a few times, rather than fail on the race.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v, err := chromedp.Run(ctx, a)
		if err == nil {
			return v
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Could not find node with given id") {
			t.Fatalf("browser: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// text returns the visible text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(sel)))
	return get(t, ctx, chromedp.Text(chromedp.CSS(sel)))
}

func wantText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	if got := text(t, ctx, sel); !strings.Contains(got, want) {
		t.Fatalf("%s shows %q, want it to contain %q", sel, got, want)
	}
}

// shoot writes a full-page screenshot of the current page when -screenshots is set.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*screenshots {
		return
	}
	png := get(t, ctx, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signInBrowser(t *testing.T, ctx context.Context, base, secret string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), secret),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=Main]")),
	)
}

// TestConsoleInBrowser walks the tenant admin's ten minutes: sign in, connect an IdP, watch
// the users arrive, open one, and look at the audit log.
func TestConsoleInBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := tab(t)
	base := f.srv.URL

	run(t, ctx, chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	shoot(t, ctx, "signin")
	signInBrowser(t, ctx, base, f.acmeAdmin)
	wantText(t, ctx, "#current-tenant", "Acme Corp")
	wantText(t, ctx, "#signed-in-as", "it-admin (admin)")
	wantText(t, ctx, "#no-sync", "Connect an IdP")

	// Connect an IdP: issue a SCIM token in the page and read its secret, shown once.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/connect"]`)),
		chromedp.WaitVisible(chromedp.CSS("#token-name")),
	)
	baseURL := get(t, ctx, chromedp.Value(chromedp.CSS("#scim-base")))
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#token-name"), "entra"),
		chromedp.Click(chromedp.CSS("#issue-token")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	secret := get(t, ctx, chromedp.Value(chromedp.CSS("#secret-value")))
	if want := base + "/scim/v2/acme"; baseURL != want {
		t.Fatalf("SCIM base URL shown: %q, want %q", baseURL, want)
	}
	if !strings.HasPrefix(secret, "stk_scim_") {
		t.Fatalf("secret shown: %q, want a stk_scim_ token", secret)
	}
	wantText(t, ctx, "#new-secret", "shown only once")
	wantText(t, ctx, "#tokens", "entra")
	shoot(t, ctx, "connect")

	// The IdP pushes users and a group over SCIM with that secret.
	alice := f.createUser(t, "acme", secret, "alice@acme.example", "Alice Liddell")
	f.createUser(t, "acme", secret, "bob@acme.example", "Bob Builder")
	status, resp := f.scim(t, "POST", "/scim/v2/acme/Groups", secret,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":"`+alice+`"}]}`)
	if status != 201 {
		t.Fatalf("create group: %d %s", status, resp)
	}

	// Users: search narrows the list as one types (htmx), then open the user.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/users"]`)),
		chromedp.WaitVisible(chromedp.CSS("#user-list")),
	)
	wantText(t, ctx, "#result-count", "2 users")
	shoot(t, ctx, "users")
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#q"), "alice"),
		chromedp.WaitNotPresent(chromedp.CSS(`#user-list a[href$="bob"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#result-count") && document.querySelector("#result-count").textContent.includes("1 user")`),
	)
	wantText(t, ctx, "#user-list", "alice@acme.example")
	if got := text(t, ctx, "#user-list"); strings.Contains(got, "bob@") {
		t.Fatalf("search for alice still lists bob: %q", got)
	}
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`#user-list a`)),
		chromedp.WaitVisible(chromedp.CSS("#user-heading")),
	)
	wantText(t, ctx, "#user-heading", "alice@acme.example")
	wantText(t, ctx, "#attributes", "Alice Liddell")
	wantText(t, ctx, "#user-groups", "Engineering")
	wantText(t, ctx, "#no-access", "holds no role")
	wantText(t, ctx, "#user-history", "user.created")
	shoot(t, ctx, "user")

	// Groups: the group shows its member.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`#user-groups a`)),
		chromedp.WaitVisible(chromedp.CSS("#group-members")),
	)
	wantText(t, ctx, "#group-heading", "Engineering")
	wantText(t, ctx, "#group-members", "alice@acme.example")

	// Overview: counts, the last sync, the chart.
	run(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href$="/acme/"]`)), chromedp.WaitVisible(chromedp.CSS("#count-users")))
	wantText(t, ctx, "#count-users", "2")
	wantText(t, ctx, "#count-groups", "1")
	wantText(t, ctx, "#last-sync", "just now")
	wantText(t, ctx, "#recent", "group.created")
	wantText(t, ctx, "#log-integrity", "signed by scimtrail-test")
	// The signing time is stored with the checkpoint and shown in words and in UTC.
	signedAt := get(t, ctx, chromedp.AttributeValue(chromedp.CSS("#checkpoint-signed"), "datetime")).Value
	if at, err := time.Parse(time.RFC3339, signedAt); err != nil || time.Since(at) > 10*time.Minute || time.Since(at) < -time.Minute {
		t.Fatalf("checkpoint signing time shown as %q (%v), want about now", signedAt, err)
	}
	bars := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#changes-chart rect").length`))
	if bars == 0 {
		t.Fatal("the changes chart draws no bars")
	}
	shoot(t, ctx, "overview")

	// Audit log: the newest entry first; expanding it shows its JSON and leaf hash.
	run(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href$="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#entries")))
	wantText(t, ctx, "#entries > li:first-child summary", "Engineering")
	run(t, ctx, chromedp.Click(chromedp.CSS("#entries > li:first-child summary")))
	wantText(t, ctx, "#entries > li:first-child .entry-json", `"display": "Engineering"`)
	leaf := text(t, ctx, "#entries > li:first-child .leaf-hash")
	if len(leaf) != 64 {
		t.Fatalf("leaf hash shown: %q", leaf)
	}
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#entries > li:first-child .proof[data-state=ok]`)))
	wantText(t, ctx, "#entries > li:first-child .proof", "Verified in your browser against checkpoint")
	wantText(t, ctx, "#entries > li:first-child .proof", "signed by scimtrail-test")
	wantText(t, ctx, "#entries > li:first-child .signature[data-state=ok]", "signature verified")
	shoot(t, ctx, "audit")
	checkForgedCheckpoints(t, ctx, f)

	// Filter by action prefix: only token entries, and the console issue is among them.
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-action"), "token."),
		chromedp.Click(chromedp.CSS("#apply-filter")),
		// Only the filtered page has the clear link: waiting for #entries alone could
		// match the page being left.
		chromedp.WaitVisible(chromedp.CSS("#clear-filter")),
		chromedp.WaitVisible(chromedp.CSS("#entries")),
	)
	got := text(t, ctx, "#entries")
	if strings.Contains(got, "user.created") || !strings.Contains(got, "via console") {
		t.Fatalf("action filter token.: entries show %q", got)
	}

	// Tenant B's pages answer as if they did not exist.
	run(t, ctx, chromedp.Navigate(base+"/console/t/globex/users"), chromedp.WaitVisible(chromedp.CSS("#error-heading")))
	wantText(t, ctx, "#error-heading", "Not found")
	html := get(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, f.globexUser) {
		t.Fatal("acme's admin sees globex's user")
	}

	// Narrow screen: the navigation and the list still fit without horizontal scrolling.
	run(t, ctx,
		chromedp.EmulateViewport(390, 800),
		chromedp.Navigate(base+"/console/t/acme/users"),
		chromedp.WaitVisible(chromedp.CSS("#user-list")),
	)
	overflow := get(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if overflow {
		t.Fatal("the users page scrolls sideways at 390px")
	}
	run(t, ctx, chromedp.EmulateViewport(1280, 800))

	// Sign out: the session is gone.
	run(t, ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token")))
	run(t, ctx, chromedp.Navigate(base+"/console/t/acme/users"), chromedp.WaitVisible(chromedp.CSS("#token")))
}

// TestAccessInBrowser walks the access model: an admin maps a group to a role, the IdP
// pushes a user into a group nested in it, the user's page shows the role with its group
// path and timeline, break-glass counts down, and — days later, after the IdP removed the
// user — an auditor's three clicks (Roles & mappings, the role, Show holders as of a past
// instant) still find who held it and through what.
func TestAccessInBrowser(t *testing.T) {
	f := newFixture(t)
	for _, r := range []service.RoleInput{
		{ID: "viewer", Name: "Viewer", Description: "Reads dashboards and reports"},
		{ID: "billing-admin", Name: "Billing admin", Description: "Changes plans and payment details", Privileged: true},
	} {
		if _, _, err := f.svc.CreateRole(t.Context(), operator, "", r); err != nil {
			t.Fatal(err)
		}
	}
	scim, _, err := f.svc.IssueToken(t.Context(), operator, "acme", "scim", "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	alice := f.createUser(t, "acme", scim.Secret, "alice@acme.example", "Alice Liddell")
	bob := f.createUser(t, "acme", scim.Secret, "bob@acme.example", "Bob Builder")
	eng := f.createGroup(t, "acme", scim.Secret, "Engineering", bob)
	staff := f.createGroup(t, "acme", scim.Secret, "All Staff", eng)
	mapped := time.Now().UTC()

	ctx := tab(t)
	base := f.srv.URL
	signInBrowser(t, ctx, base, f.acmeAdmin)

	// Map All Staff to Viewer on the Roles & mappings page.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/roles"]`)),
		chromedp.WaitVisible(chromedp.CSS("#mapping-form")),
		chromedp.SetValue(chromedp.CSS("#map-group"), staff),
		chromedp.SetValue(chromedp.CSS("#map-role"), "viewer"),
		chromedp.Click(chromedp.CSS("#create-mapping")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	wantText(t, ctx, "#mappings", "All Staff")
	wantText(t, ctx, "#roles", "Billing admin")
	shoot(t, ctx, "roles")

	// The IdP pushes alice into Engineering, which is nested in All Staff.
	status, resp := f.scim(t, "PATCH", "/scim/v2/acme/Groups/"+eng, scim.Secret,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+alice+`"}]}]}`)
	if status != 200 && status != 204 {
		t.Fatalf("add alice to Engineering: %d %s", status, resp)
	}

	// Alice's page: the role, its group chain, and the timeline.
	run(t, ctx, chromedp.Navigate(base+"/console/t/acme/users/"+alice), chromedp.WaitVisible(chromedp.CSS("#effective-access")))
	wantText(t, ctx, "#effective-access", "Viewer")
	wantText(t, ctx, "#effective-access", "member of group Engineering → All Staff")
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#access-timeline rect.tl-bar").length`)); n != 1 {
		t.Fatalf("the access timeline draws %d bars, want 1", n)
	}

	// Break-glass: Billing admin for alice for one hour, counting down.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/break-glass"]`)),
		chromedp.WaitVisible(chromedp.CSS("#break-glass-form")),
		chromedp.SendKeys(chromedp.CSS("#bg-user"), "alice@acme.example"),
		chromedp.SetValue(chromedp.CSS("#bg-role"), "billing-admin"),
		chromedp.SendKeys(chromedp.CSS("#bg-why"), "INC-42: customer cannot pay"),
		chromedp.Click(chromedp.CSS("#request-break-glass")),
		chromedp.WaitVisible(chromedp.CSS("#active-break-glass")),
	)
	wantText(t, ctx, "#active-break-glass", "alice@acme.example")
	if got := text(t, ctx, "#active-break-glass .countdown"); !strings.HasPrefix(got, "59m") && !strings.HasPrefix(got, "1h 00m") {
		t.Fatalf("break-glass countdown shows %q, want about an hour left", got)
	}
	wantText(t, ctx, "#break-glass-history", "INC-42")
	shoot(t, ctx, "breakglass")
	run(t, ctx, chromedp.Navigate(base+"/console/t/acme/users/"+alice), chromedp.WaitVisible(chromedp.CSS("#effective-access")))
	wantText(t, ctx, "#effective-access", "break-glass")
	wantText(t, ctx, "#effective-access .countdown", "left")
	shoot(t, ctx, "access")

	// Three days later the IdP removes alice from Engineering: she holds Viewer no more (bob,
	// still in Engineering, does).
	f.later(72 * time.Hour)
	status, resp = f.scim(t, "PATCH", "/scim/v2/acme/Groups/"+eng, scim.Secret,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+alice+`\"]"}]}`)
	if status != 200 && status != 204 {
		t.Fatalf("remove alice from Engineering: %d %s", status, resp)
	}

	// Who held Viewer an hour after the mapping? Three clicks.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/roles"]`)),
		chromedp.WaitVisible(chromedp.CSS("#roles")),
		chromedp.Click(chromedp.CSS(`#roles a[href$="/roles/viewer"]`)),
		chromedp.WaitVisible(chromedp.CSS("#holders-asof")),
	)
	wantText(t, ctx, "#holders-heading", "Held now by 1 user")
	if got := text(t, ctx, "#holders"); strings.Contains(got, "alice") || !strings.Contains(got, "bob@acme.example") {
		t.Fatalf("holders of Viewer now: %q, want bob and not alice", got)
	}
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#holders-at"), mapped.Add(time.Hour).Format("2006-01-02T15:04")),
		chromedp.Click(chromedp.CSS("#holders-apply")),
		chromedp.WaitVisible(chromedp.CSS("#holders-now")),
	)
	wantText(t, ctx, "#holders-heading", "by 2 users")
	wantText(t, ctx, "#holders", "alice@acme.example")
	wantText(t, ctx, "#holders", "member of group Engineering, nested in All Staff")
	shoot(t, ctx, "holders")

	// Her page as of that instant shows the role then, and the timeline's interval closed.
	run(t, ctx, chromedp.Click(chromedp.CSS(`#holders a[href*="/users/"]`)), chromedp.WaitVisible(chromedp.CSS("#timeline-table")))
	if got := text(t, ctx, "#effective-access, #no-access"); !strings.Contains(got, "break-glass") && !strings.Contains(got, "no role") {
		t.Fatalf("alice's access now: %q", got)
	}
}

// TestAuditorInBrowser: an auditor sees the connect page without its controls, and a POST
// forged from the page with the auditor's session is refused.
func TestAuditorInBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := tab(t)
	signInBrowser(t, ctx, f.srv.URL, f.acmeAuditor)
	run(t, ctx, chromedp.Navigate(f.srv.URL+"/console/t/acme/connect"), chromedp.WaitVisible(chromedp.CSS("#read-only-note")))
	forms := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#issue-form, form[action*='/rotate'], form[action*='/revoke']").length`))
	if forms != 0 {
		t.Fatalf("an auditor sees %d token forms", forms)
	}
	status := get(t, ctx, chromedp.Evaluate[int](`fetch("/console/t/acme/connect/tokens", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "name=forged&expires=30d"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Fatalf("forged POST by an auditor: %d, want 403", status)
	}
}

// TestProofVerifierInBrowser checks console.js's RFC 6962 inclusion verifier, which runs in
// the browser with WebCrypto, against proofs computed here for every leaf of trees of
// several sizes, and that it rejects a tampered leaf.
func TestProofVerifierInBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := tab(t)
	run(t, ctx, chromedp.Navigate(f.srv.URL+"/console/signin"), chromedp.WaitVisible(chromedp.CSS("#token")))
	for _, size := range []int{1, 2, 3, 7, 8, 13} {
		leaves := make([][]byte, size)
		for i := range leaves {
			leaves[i] = leafHash([]byte(fmt.Sprintf("entry %d", i)))
		}
		root := hex.EncodeToString(treeHash(leaves))
		for i := range size {
			var proof []string
			for _, p := range inclusionPath(i, leaves) {
				proof = append(proof, hex.EncodeToString(p))
			}
			leaf := hex.EncodeToString(leaves[i])
			bad := hex.EncodeToString(leafHash([]byte("tampered")))
			js := func(l string) string {
				return fmt.Sprintf(`scimtrailProof.verifyInclusion(%q, %d, %d, %s, %q)`, l, i, size, jsArray(proof), root)
			}
			ok := get(t, ctx, chromedp.Evaluate[bool](js(leaf), chromedp.EvalAwaitPromise))
			tampered := get(t, ctx, chromedp.Evaluate[bool](js(bad), chromedp.EvalAwaitPromise))
			if !ok || tampered {
				t.Fatalf("size %d leaf %d: verify=%v, tampered verify=%v; want true, false", size, i, ok, tampered)
			}
		}
	}

	// Signed notes made by Go's golang.org/x/mod/sumdb/note: scimtrailNote accepts only a
	// signature by a listed key over the exact text.
	skey, vkey, err := ledger.GenerateKey("log.example")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ledger.GenerateKey("log.example")
	_, thirdKey, _ := ledger.GenerateKey("third")
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	signed, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "scimtrail/test/acme", Size: 42, Root: root[:]}, signer)
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(signed), "\n42\n", "\n43\n", 1)
	for _, c := range []struct {
		name   string
		note   string
		keys   []string
		wantOK bool
	}{
		{"Good", string(signed), []string{vkey}, true},
		{"RetiredKeyListedSecond", string(signed), []string{thirdKey, "garbage", vkey}, true},
		{"WrongKeySameName", string(signed), []string{otherKey}, false},
		{"NoKeys", string(signed), nil, false},
		{"TamperedSize", tampered, []string{vkey}, false},
		{"Unsigned", strings.SplitAfter(string(signed), "\n\n")[0], []string{vkey}, false},
	} {
		keys, _ := json.Marshal(c.keys)
		got := get(t, ctx, chromedp.Evaluate[map[string]any](fmt.Sprintf(`scimtrailNote.verify(%q, %s)`, c.note, keys), chromedp.EvalAwaitPromise))
		if ok, _ := got["ok"].(bool); ok != c.wantOK {
			t.Errorf("%s: scimtrailNote.verify = %v, want ok=%v", c.name, got, c.wantOK)
		}
		if c.wantOK {
			cp, _ := got["checkpoint"].(map[string]any)
			if cp["size"] != float64(42) || cp["root"] != hex.EncodeToString(root[:]) || cp["origin"] != "scimtrail/test/acme" || got["key"] != "log.example" {
				t.Errorf("%s: verified checkpoint %v", c.name, got)
			}
		}
	}
}

// checkForgedCheckpoints shows the audit page a wrong key and then a tampered checkpoint
// whose size and root are still right, so only the signature check can catch it: the page
// must say the signature is not verified and not call the entry verified.
func checkForgedCheckpoints(t *testing.T, ctx context.Context, f *fixture) {
	t.Helper()
	openFirst := func() {
		run(t, ctx,
			chromedp.Navigate(f.srv.URL+"/console/t/acme/audit"),
			chromedp.WaitVisible(chromedp.CSS("#entries")),
			chromedp.Click(chromedp.CSS("#entries > li:first-child summary")),
			chromedp.WaitVisible(chromedp.CSS(`#entries > li:first-child .signature[data-state=bad]`)),
		)
		wantText(t, ctx, "#entries > li:first-child .signature", "NOT verified")
		if got := text(t, ctx, "#entries > li:first-child .proof"); strings.Contains(got, "Verified") {
			t.Fatalf("with a bad signature the proof line says %q", got)
		}
	}
	t.Run("WrongKey", func(t *testing.T) {
		_, other, err := ledger.GenerateKey("scimtrail-test")
		if err != nil {
			t.Fatal(err)
		}
		f.forge(t, "/api/v1/audit/keys", `{"keys":[`+strconv.Quote(other)+`]}`)
		openFirst()
		wantText(t, ctx, "#entries > li:first-child .signature", "wrong or unknown key")
	})
	t.Run("NotSecureContext", func(t *testing.T) {
		other := tab(t)
		insecure := strings.Replace(f.srv.URL, "127.0.0.1", "insecure.test", 1)
		signInBrowser(t, other, insecure, f.acmeAuditor)
		run(t, other,
			chromedp.Navigate(insecure+"/console/t/acme/audit"),
			chromedp.WaitVisible(chromedp.CSS("#entries")),
			chromedp.Click(chromedp.CSS("#entries > li:first-child summary")),
			chromedp.WaitVisible(chromedp.CSS(`#entries > li:first-child .signature[data-state=unavailable]`)),
		)
		wantText(t, other, "#entries > li:first-child .signature", "cannot verify signature here")
		if got := text(t, other, "#entries > li:first-child .proof"); strings.Contains(got, "Verified") {
			t.Fatalf("without WebCrypto the proof line says %q", got)
		}
	})
	t.Run("TamperedNote", func(t *testing.T) {
		c := f.client(t)
		f.signIn(t, c, f.acmeAuditor)
		_, body, _ := f.get(t, c, "/console/t/acme/audit/checkpoint")
		var cp map[string]any
		if err := json.Unmarshal([]byte(body), &cp); err != nil {
			t.Fatalf("checkpoint: %v: %s", err, body)
		}
		note := cp["note"].(string)
		origin, rest, _ := strings.Cut(note, "\n")
		cp["note"] = origin + "-forged\n" + rest
		forged, _ := json.Marshal(cp)
		f.forge(t, "/console/t/acme/audit/checkpoint", string(forged))
		openFirst()
		wantText(t, ctx, "#entries > li:first-child .signature", "altered")
	})
}

func jsArray(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// leafHash, treeHash and inclusionPath are RFC 6962 §2.1 written out from the text, so the
// browser's verifier is checked against the definition rather than against our own ledger.
func leafHash(b []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, b...))
	return h[:]
}

func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// split is the largest power of two smaller than n.
func split(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func treeHash(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(treeHash(leaves[:k]), treeHash(leaves[k:]))
}

func inclusionPath(m int, leaves [][]byte) [][]byte {
	if len(leaves) == 1 {
		return nil
	}
	k := split(len(leaves))
	if m < k {
		return append(inclusionPath(m, leaves[:k]), treeHash(leaves[k:]))
	}
	return append(inclusionPath(m-k, leaves[k:]), treeHash(leaves[:k]))
}

// TestExportsInBrowser: an admin adds a webhook sink in the page, pointing at a receiver on
// loopback (the test server allows private sinks), copies its secret, sees the sink catch up
// with the log, then downloads a report.
func TestExportsInBrowser(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var bodies [][]byte
	var headers []http.Header
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, headers = append(bodies, b), append(headers, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	scim, _, err := f.svc.IssueToken(t.Context(), operator, "acme", "scim", "entra", 0)
	if err != nil {
		t.Fatal(err)
	}
	f.createUser(t, "acme", scim.Secret, "alice@acme.example", "Alice Liddell")

	ctx := tab(t)
	base := f.srv.URL
	signInBrowser(t, ctx, base, f.acmeAdmin)
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/exports"]`)),
		chromedp.WaitVisible(chromedp.CSS("#no-sinks")),
		chromedp.SendKeys(chromedp.CSS("#sink-url"), rcv.URL+"/siem"),
		chromedp.SetValue(chromedp.CSS("#sink-format"), "native"),
		chromedp.Click(chromedp.CSS("#create-sink")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	secret := get(t, ctx, chromedp.Value(chromedp.CSS("#secret-value")))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret shown: %q, want a whsec_ secret", secret)
	}
	wantText(t, ctx, "#new-secret", "shown only once")
	wantText(t, ctx, "#sinks", rcv.URL+"/siem")

	// The dispatcher delivers the whole log, its own sink.created entry included; reloading
	// the page shows the cursor at the log's end and no lag.
	deadline := time.Now().Add(20 * time.Second)
	for {
		run(t, ctx, chromedp.Navigate(base+"/console/t/acme/exports"), chromedp.WaitVisible(chromedp.CSS("#sinks")))
		lag := text(t, ctx, "#sinks .sink-lag")
		if strings.HasPrefix(lag, "0 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink still shows lag %q", lag)
		}
		time.Sleep(100 * time.Millisecond)
	}
	size, err := f.svc.LogSize(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if cursor := text(t, ctx, "#sinks .sink-cursor"); cursor != "entry "+strconv.FormatInt(size, 10) {
		t.Fatalf("cursor shown %q, want entry %d, the log's last", cursor, size)
	}
	wantText(t, ctx, "#sinks .sink-state", "up to date")
	if got := text(t, ctx, "#sinks .sink-error"); got != "—" {
		t.Fatalf("last error shown: %q", got)
	}
	if secrets := get(t, ctx, chromedp.Evaluate[int](`document.body.innerHTML.split("whsec_").length - 1`)); secrets != 0 {
		t.Fatal("the exports page shows the secret again")
	}
	shoot(t, ctx, "exports")
	// Every delivery is signed with the secret the page showed.
	mu.Lock()
	if len(bodies) == 0 {
		t.Fatal("the receiver got nothing")
	}
	for i := range bodies {
		if err := webhook.Verify(secret, headers[i], bodies[i], time.Now()); err != nil {
			t.Fatalf("delivery %d does not verify with the secret shown: %v", i, err)
		}
	}
	if !strings.Contains(string(bodies[0]), `"seq":1`) {
		t.Fatalf("the first delivery is not seq 1: %s", bodies[0])
	}
	mu.Unlock()

	// Service accounts: issue a key in the page; its secret is shown once.
	alice := f.createUser(t, "acme", scim.Secret, "bob@acme.example", "Bob Builder")
	acct, _, err := f.svc.CreateServiceAccount(t.Context(), operator, "acme", service.ServiceAccountInput{Name: "billing-sync", OwnerID: alice, Description: "Nightly invoice export"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/service-accounts"]`)),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		chromedp.Click(chromedp.CSS("#account-"+acct.ID+" .issue-key")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	if key := get(t, ctx, chromedp.Value(chromedp.CSS("#secret-value"))); !strings.HasPrefix(key, "stk_nhi_") {
		t.Fatalf("key shown: %q", key)
	}
	wantText(t, ctx, "#account-"+acct.ID, "bob@acme.example")
	wantText(t, ctx, "#account-"+acct.ID+" .key-state", "active")
	shoot(t, ctx, "service-accounts")

	// Reports: the page says which checkpoint; the download carries the ledger size.
	run(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href$="/reports"]`)), chromedp.WaitVisible(chromedp.CSS("#reports")))
	wantText(t, ctx, "#report-checkpoint", "signed by scimtrail-test")
	wantText(t, ctx, "#report-credentials .computed-at", "Computed at checkpoint")
	shoot(t, ctx, "reports")
	href := get(t, ctx, chromedp.Evaluate[string](`document.querySelector("#download-credentials-csv").href`))
	// Fetch it as the page's own session would (the link is same-origin with the cookie).
	csvText := get(t, ctx, chromedp.Evaluate[string](`(async () => { const r = await fetch(`+strconv.Quote(href)+`); return r.status + "\n" + r.headers.get("content-disposition") + "\n" + await r.text(); })()`,
		chromedp.EvalAwaitPromise))
	lines := strings.Split(csvText, "\n")
	if lines[0] != "200" || !strings.Contains(lines[1], "acme-credentials-at-") || !strings.HasPrefix(lines[2], "kind,id,owner") || !strings.Contains(csvText, scim.ID) {
		t.Fatalf("credentials CSV download:\n%s", csvText)
	}
}

// TestApprovalAndSettingsInBrowser: an admin turns on the second-admin policy on the
// Settings page and asks for break-glass access, which waits; a second admin, in another
// browser, approves it and sees it counting down; then a schema extension is registered.
func TestApprovalAndSettingsInBrowser(t *testing.T) {
	f := newFixture(t)
	accessFixture(t, f)
	second, _, err := f.svc.IssueToken(t.Context(), operator, "acme", "admin", "second-admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	base := f.srv.URL
	ctx := tab(t)
	signInBrowser(t, ctx, base, f.acmeAdmin)
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/settings"]`)),
		chromedp.WaitVisible(chromedp.CSS("#settings-form")),
		chromedp.SetValue(chromedp.CSS("#set-approval"), "second_admin"),
		chromedp.Click(chromedp.CSS("#save-settings")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if got := get(t, ctx, chromedp.Value(chromedp.CSS("#set-approval"))); got != "second_admin" {
		t.Fatalf("after saving, the approval policy shows %q", got)
	}
	shoot(t, ctx, "settings")
	// Narrow screen: the settings forms fit without sideways scrolling.
	run(t, ctx, chromedp.EmulateViewport(390, 800), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#settings-form")))
	if get(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
		t.Fatal("the settings page scrolls sideways at 390px")
	}
	run(t, ctx, chromedp.EmulateViewport(1280, 800))

	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/break-glass"]`)),
		chromedp.WaitVisible(chromedp.CSS("#approval-policy")),
		chromedp.SendKeys(chromedp.CSS("#bg-user"), "alice@acme.example"),
		chromedp.SetValue(chromedp.CSS("#bg-role"), "billing-admin"),
		chromedp.SetValue(chromedp.CSS("#bg-duration"), "2h"),
		chromedp.SendKeys(chromedp.CSS("#bg-why"), "INC-77: payments down"),
		chromedp.Click(chromedp.CSS("#request-break-glass")),
		chromedp.WaitVisible(chromedp.CSS("#pending-requests")),
	)
	wantText(t, ctx, "#flash", "waiting for a second admin")
	wantText(t, ctx, "#pending-requests", "alice@acme.example")
	wantText(t, ctx, "#pending-requests .own-request", "another admin must approve")
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#pending-requests .approve-request").length`)); n != 0 {
		t.Fatalf("the requester sees %d approve buttons", n)
	}
	wantText(t, ctx, "#no-active", "Nobody has emergency access")
	shoot(t, ctx, "breakglass-pending")

	// The second admin, in a browser of their own, approves.
	other := tab(t)
	signInBrowser(t, other, base, second.Secret)
	run(t, other,
		chromedp.Navigate(base+"/console/t/acme/break-glass"),
		chromedp.WaitVisible(chromedp.CSS("#pending-requests .approve-request")),
		// The approve form asks "Give … for 2h from now?": answer yes.
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS("#pending-requests .approve-request")),
		chromedp.WaitVisible(chromedp.CSS("#active-break-glass")),
	)
	wantText(t, other, "#flash", "approved")
	if got := text(t, other, "#active-break-glass .countdown"); !strings.HasPrefix(got, "1h 59m") && !strings.HasPrefix(got, "2h 00m") {
		t.Fatalf("after approval the countdown shows %q, want two hours from approval", got)
	}
	wantText(t, other, "#decided-requests", "approved")
	wantText(t, other, "#decided-requests", "second-admin")
	shoot(t, other, "breakglass-approved")

	// Schema extensions: register one by pasting its definition.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`nav a[href$="/schemas"]`)),
		chromedp.WaitVisible(chromedp.CSS("#no-schemas")),
		chromedp.SetValue(chromedp.CSS("#schema-definition"), `{"id":"urn:example:params:scim:schemas:extension:acme:2.0:User","name":"AcmeUser","resourceType":"User","attributes":[{"name":"costCenter","type":"string"}]}`),
		chromedp.Click(chromedp.CSS("#register-schema")),
		chromedp.WaitVisible(chromedp.CSS("#schemas")),
	)
	wantText(t, ctx, "#schemas", "costCenter")
	run(t, ctx, chromedp.Click(chromedp.CSS("#schemas summary")), chromedp.WaitVisible(chromedp.CSS("#schemas .schema-json")))
	shoot(t, ctx, "schemas")
}
