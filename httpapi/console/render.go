package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// view is what every page template gets: the layout's needs (who is signed in, which tenant,
// which page) and the page's own Data.
type view struct {
	Title     string
	Session   session
	Tenant    scimtrail.Tenant
	TenantID  string
	CanChange bool
	Path      string
	Status    int    // 0: 200
	Flash     string // a one-line confirmation shown above the page
	Data      any
}

// Nav is the layout's navigation, in order.
func (v *view) Nav() []navItem {
	base := "/console/t/" + v.TenantID + "/"
	items := []navItem{
		{Label: "Overview", Href: base},
		{Label: "Connect an IdP", Href: base + "connect"},
		{Label: "Users", Href: base + "users"},
		{Label: "Groups", Href: base + "groups"},
		{Label: "Roles & mappings", Href: base + "roles"},
		{Label: "Break-glass", Href: base + "break-glass"},
		{Label: "Service accounts", Href: base + "service-accounts"},
		{Label: "Audit log", Href: base + "audit"},
		{Label: "Reports", Href: base + "reports"},
		{Label: "Exports", Href: base + "exports"},
		{Label: "Schemas", Href: base + "schemas"},
		{Label: "Settings", Href: base + "settings"},
	}
	for i := range items {
		switch {
		case items[i].Href == base:
			items[i].Current = v.Path == base
		default:
			items[i].Current = v.Path == items[i].Href || strings.HasPrefix(v.Path, items[i].Href+"/")
		}
	}
	return items
}

type navItem struct {
	Label, Href string
	Current     bool
}

// Who describes the signed-in token for the header.
func (v *view) Who() string {
	t := v.Session.token
	name := t.Name
	if name == "" {
		name = t.ID
	}
	return fmt.Sprintf("%s (%s)", name, t.Kind)
}

// Operator reports whether the session is an operator's, who may pick any tenant.
func (v *view) Operator() bool { return v.Session.token.Kind == scimtrail.TokenOperator }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago":       func(t time.Time) string { return ago(time.Now(), t) },
	"add":       func(a, b int) int { return a + b },
	"remaining": func(t time.Time) string { return remaining(time.Now(), t) },
	"input":     func(t time.Time) string { return t.UTC().Format(inputTime) },
}

// ago says how long ago t was, in words.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// parsePages parses each page template together with the layout.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return pages
}

// render writes page name with v, buffered so that a template error becomes a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if v.Path == "" {
		v.Path = r.URL.Path
	}
	t, ok := c.pages[name]
	if !ok {
		c.serverError(w, r, fmt.Errorf("no page template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	Heading, Message, RequestID string
}

// errorPage shows err in words a customer admin understands. Driver internals never reach
// the page: they are logged with the request id, which the page shows.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, v *view, err error) {
	d := errorData{RequestID: w.Header().Get("X-Request-Id")}
	switch scimtrail.ErrorCode(err) {
	case scimtrail.ENOTFOUND:
		v.Status = http.StatusNotFound
		d.Heading = "Not found"
		d.Message = "We could not find what you asked for. It may have been deleted, or it is not part of the tenants you can see."
	case scimtrail.EFORBIDDEN:
		v.Status = http.StatusForbidden
		d.Heading = "You can look but not change"
		d.Message = "You are signed in with an auditor token, which can read everything in this tenant but change nothing. Ask an admin of this tenant to make the change."
		if msg := scimtrail.ErrorMessage(err); msg != readOnly {
			// A delegated admin's scope, not an auditor: say what the scope allows.
			d.Heading, d.Message = "Not allowed with this token", msg
		}
	case scimtrail.EINVALID, scimtrail.ECONFLICT, scimtrail.EPRECONDITION:
		v.Status = http.StatusBadRequest
		d.Heading = "That did not work"
		d.Message = scimtrail.ErrorMessage(err)
	case scimtrail.EUNAVAILABLE:
		c.logger.LogAttrs(r.Context(), slog.LevelWarn, "console: store unavailable",
			slog.String("request_id", d.RequestID), slog.String("error", err.Error()))
		v.Status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
		d.Heading = "The database is unavailable"
		d.Message = "scimtrail cannot reach its database right now. Nothing was changed; please try again in a moment."
	default:
		c.logger.LogAttrs(r.Context(), slog.LevelError, "console request failed",
			slog.String("request_id", d.RequestID), slog.String("error", err.Error()))
		v.Status = http.StatusInternalServerError
		d.Heading = "Something went wrong on our side"
		d.Message = "Please try again in a moment. If it keeps happening, give your operator the request id below."
	}
	v.Title = d.Heading
	v.Data = d
	c.render(w, r, v.Status, "error", v)
}

func (c *Console) serverError(w http.ResponseWriter, r *http.Request, err error) {
	c.errorPage(w, r, &view{Path: r.URL.Path}, err)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	v := &view{Path: r.URL.Path}
	if s, err := c.session(r); err == nil {
		v.Session = s
		v.TenantID = s.token.Tenant
	}
	c.errorPage(w, r, v, scimtrail.Errorf(scimtrail.ENOTFOUND, "no such page"))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// SignedIn reports whether the page is shown to a signed-in person.
func (v *view) SignedIn() bool { return v.Session.token.ID != "" }
