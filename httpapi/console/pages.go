package console

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// pageSize is the number of rows on a list page.
const pageSize = 25

func (c *Console) tenantPicker(w http.ResponseWriter, r *http.Request, s session) {
	if s.token.Kind != scimtrail.TokenOperator {
		http.Redirect(w, r, "/console/t/"+s.token.Tenant+"/", http.StatusSeeOther)
		return
	}
	ts, err := c.svc.Tenants(r.Context())
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "tenants", &view{Title: "Choose a tenant", Session: s, Data: ts})
}

// decoded is a ledger entry as the console shows it.
type decoded struct {
	scimtrail.Entry
	LeafHash string
	JSON     string
}

func decode(se scimtrail.StoredEntry) decoded {
	d := decoded{LeafHash: hex.EncodeToString(se.LeafHash)}
	if err := json.Unmarshal(se.Body, &d.Entry); err != nil {
		// A body dropped by retention, or one this build cannot read: show what the row knows.
		d.Entry = scimtrail.Entry{Seq: se.Seq, Time: se.Time, Action: se.Action}
	}
	var pretty any
	if json.Unmarshal(se.Body, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "", "  ")
		d.JSON = string(b)
	}
	return d
}

// TargetLabel is the entry's target in words.
func (d decoded) TargetLabel() string {
	if d.Target == nil {
		return ""
	}
	if d.Target.Display != "" {
		return d.Target.Display
	}
	return d.Target.Type + " " + d.Target.ID
}

// ActorLabel is the entry's actor in words.
func (d decoded) ActorLabel() string {
	switch d.Actor.Type {
	case scimtrail.ActorIdPSync:
		return "IdP sync (" + d.Actor.ID + ")"
	case scimtrail.ActorDelegatedAdmin:
		return "Tenant admin (" + d.Actor.ID + ")"
	case scimtrail.ActorAdmin:
		return "Operator (" + d.Actor.ID + ")"
	case scimtrail.ActorBreakGlass:
		return "Break-glass (" + d.Actor.ID + ")"
	case "":
		return "—"
	}
	return d.Actor.Type + " (" + d.Actor.ID + ")"
}

// recentWindow is how far back the overview looks, and scanCap bounds how many entries it
// reads to draw it, so that the overview of a huge tenant stays cheap.
const (
	recentWindow = 14 * 24 * time.Hour
	scanBatch    = 500
	scanCap      = 20 * scanBatch
)

type overviewData struct {
	Users, ActiveUsers, Groups int
	Roles, Mappings            int // live roles in the tenant's view of the catalogue
	Checkpoint                 *checkpointView
	LastSync                   time.Time
	LastSyncKnown              bool // false: no sync among the entries scanned
	Recent                     []decoded
	Chart                      chart
	LogSize                    int64
	PendingBreakGlass          int // break-glass requests waiting for a second admin
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	t := v.TenantID
	d := overviewData{}
	for _, q := range []struct {
		typ    scimtrail.ResourceType
		filter string
		out    *int
	}{
		{scimtrail.UserResource, "", &d.Users},
		{scimtrail.UserResource, "active eq true", &d.ActiveUsers},
		{scimtrail.GroupResource, "", &d.Groups},
	} {
		res, err := c.svc.ListResources(ctx, t, q.typ, service.ListQuery{Filter: q.filter, Count: 0})
		if err != nil {
			return "", err
		}
		*q.out = res.Total
	}
	roles, err := c.svc.Roles(ctx, t)
	if err != nil {
		return "", err
	}
	for _, ro := range roles {
		if ro.Retired.IsZero() {
			d.Roles++
		}
	}
	ms, err := c.svc.Mappings(ctx, t)
	if err != nil {
		return "", err
	}
	d.Mappings = len(ms)
	reqs, err := c.svc.BreakGlassRequests(ctx, t, 0)
	if err != nil {
		return "", err
	}
	for _, rq := range reqs {
		if rq.State == scimtrail.RequestPending {
			d.PendingBreakGlass++
		}
	}
	size, err := c.svc.LogSize(ctx, t)
	if err != nil {
		return "", err
	}
	d.LogSize = size
	if size > 0 {
		if cp, err := c.checkpoint(r, t); err == nil {
			d.Checkpoint = &cp
		}
	}
	now := c.now()
	since := now.Add(-recentWindow)
	days := map[string]map[string]int{}
	// Read the log backwards in batches until the window, and the latest IdP sync, are found.
	for end, read := size, 0; end > 0 && read < scanCap; {
		after := max(0, end-scanBatch)
		batch, err := c.svc.AuditEntries(ctx, t, after, int(end-after), scimtrail.EntryFilter{})
		if err != nil {
			return "", err
		}
		read += len(batch)
		old := false
		for i := len(batch) - 1; i >= 0; i-- {
			e := decode(batch[i])
			if len(d.Recent) < 10 {
				d.Recent = append(d.Recent, e)
			}
			if !d.LastSyncKnown && e.Actor.Type == scimtrail.ActorIdPSync {
				d.LastSync, d.LastSyncKnown = e.Time, true
			}
			if e.Time.Before(since) {
				old = true
				continue
			}
			day := e.Time.UTC().Format(time.DateOnly)
			if days[day] == nil {
				days[day] = map[string]int{}
			}
			days[day][kindOf(e.Action)]++
		}
		if old && d.LastSyncKnown || len(batch) == 0 {
			break
		}
		end = after
	}
	d.Chart = newChart(now, days)
	v.Title = "Overview"
	v.Data = d
	return "overview", nil
}

// kindOf is the noun of a dotted action, "user.created" → "user", which the chart stacks by.
func kindOf(action string) string {
	noun, _, _ := strings.Cut(action, ".")
	switch noun {
	case "user", "group", "token":
		return noun
	}
	return "other"
}

// chartKinds are the chart's series in stacking order, with their colours (chosen to be
// distinguishable by people with the common colour-vision deficiencies).
var chartKinds = []struct{ Kind, Label, Colour string }{
	{"user", "Users", "#0072b2"},
	{"group", "Groups", "#e69f00"},
	{"token", "Tokens", "#009e73"},
	{"other", "Other", "#999999"},
}

// chart is a bar chart of changes per day, stacked by kind, laid out here so that the
// template only draws rectangles.
type chart struct {
	Width, Height, Max int
	LabelY             int // baseline of the date labels
	Days               []chartDay
	Legend             []chartLegend
	Total              int
}

type chartDay struct {
	Label, Date string
	X, Total    int
	TopY        int // where the day's total is written, just above its bars
	Bars        []chartBar
}

type chartBar struct {
	Y, H   int
	Colour string
	Title  string
}

type chartLegend struct{ Label, Colour string }

func newChart(now time.Time, days map[string]map[string]int) chart {
	// top leaves room for the busiest day's total above its bar.
	const n, barW, gap, plotH, top = 14, 36, 12, 140, 14
	ch := chart{Width: n * (barW + gap), Height: top + plotH + 30, LabelY: top + plotH + 18}
	for _, k := range chartKinds {
		ch.Legend = append(ch.Legend, chartLegend{k.Label, k.Colour})
	}
	for i := range n {
		day := now.UTC().AddDate(0, 0, i-n+1).Format(time.DateOnly)
		total := 0
		for _, k := range chartKinds {
			total += days[day][k.Kind]
		}
		ch.Max = max(ch.Max, total)
		ch.Total += total
		ch.Days = append(ch.Days, chartDay{Date: day, Label: day[5:], X: i * (barW + gap), Total: total})
	}
	if ch.Max == 0 {
		return ch
	}
	for i := range ch.Days {
		y := top + plotH
		for _, k := range chartKinds {
			cnt := days[ch.Days[i].Date][k.Kind]
			if cnt == 0 {
				continue
			}
			h := max(1, cnt*plotH/ch.Max)
			y -= h
			ch.Days[i].Bars = append(ch.Days[i].Bars, chartBar{Y: y, H: h, Colour: k.Colour,
				Title: fmt.Sprintf("%s: %d %s changes", ch.Days[i].Date, cnt, strings.ToLower(k.Label[:len(k.Label)-1]))})
		}
		ch.Days[i].TopY = y - 3
	}
	return ch
}

type connectData struct {
	BaseURL string
	Tokens  []scimtrail.Token
	Issued  *service.IssuedToken // set once, on the response that created the secret
	Error   string
}

// scimBase is the tenant's SCIM base URL as an IdP must be told it.
func (c *Console) scimBase(r *http.Request, tenant string) string {
	base := c.publicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/scim/v2/" + url.PathEscape(tenant)
}

func (c *Console) connectData(r *http.Request, tenant string) (connectData, error) {
	toks, err := c.svc.Tokens(r.Context(), tenant)
	if err != nil {
		return connectData{}, err
	}
	d := connectData{BaseURL: c.scimBase(r, tenant)}
	for _, t := range toks {
		if t.Kind == scimtrail.TokenSCIM {
			d.Tokens = append(d.Tokens, t)
		}
	}
	// Usable tokens first, newest first within each.
	now := c.now()
	slices.SortStableFunc(d.Tokens, func(a, b scimtrail.Token) int {
		if ua, ub := a.Usable(now), b.Usable(now); ua != ub {
			if ua {
				return -1
			}
			return 1
		}
		return b.Created.Compare(a.Created)
	})
	return d, nil
}

func (c *Console) connect(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.connectData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "revoked":
		v.Flash = "The token was revoked. Requests that use it are refused from now on."
	}
	v.Title = "Connect an IdP"
	v.Data = d
	return "connect", nil
}

// lifetimes are the choices of the token form; "" never expires.
var lifetimes = map[string]time.Duration{
	"30d":  30 * 24 * time.Hour,
	"90d":  90 * 24 * time.Hour,
	"365d": 365 * 24 * time.Hour,
	"":     0,
}

func (c *Console) issueToken(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	ttl, ok := lifetimes[r.PostFormValue("expires")]
	d, err := c.connectData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	v.Title = "Connect an IdP"
	v.Data = &d
	switch {
	case name == "":
		d.Error = "Give the token a name, such as the IdP it is for (\"entra\" or \"okta\"), so you can tell tokens apart later."
	case !ok:
		d.Error = "Choose how long the token should last."
	}
	if d.Error != "" {
		v.Status = http.StatusBadRequest
		return "connect", nil
	}
	if err := c.mayIssueTokens(r, v); err != nil {
		if scimtrail.ErrorCode(err) != scimtrail.EFORBIDDEN {
			return "", err
		}
		d.Error, v.Status = scimtrail.ErrorMessage(err), http.StatusForbidden
		return "connect", nil
	}
	it, _, err := c.svc.IssueToken(r.Context(), c.origin(w, r, v.Session), v.TenantID, scimtrail.TokenSCIM, name, ttl)
	if scimtrail.ErrorCode(err) == scimtrail.EINVALID {
		d.Error = scimtrail.ErrorMessage(err)
		v.Status = http.StatusBadRequest
		return "connect", nil
	} else if err != nil {
		return "", err
	}
	if d, err = c.connectData(r, v.TenantID); err != nil {
		return "", err
	}
	d.Issued = &it
	v.Data = &d
	v.Flash = "A new SCIM token \"" + it.Name + "\" was issued."
	return "connect", nil
}

func (c *Console) rotateToken(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	if err := c.mayIssueTokens(r, v); err != nil {
		return "", err
	}
	it, _, err := c.svc.RotateToken(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id"))
	if err != nil {
		return "", err
	}
	d, err := c.connectData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	d.Issued = &it
	v.Title = "Connect an IdP"
	v.Data = &d
	v.Flash = "The secret of \"" + it.Name + "\" was replaced. The old secret no longer works: paste the new one into your IdP now."
	return "connect", nil
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	if err := c.mayIssueTokens(r, v); err != nil {
		return "", err
	}
	if _, err := c.svc.RevokeToken(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id")); err != nil {
		return "", err
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/connect?done=revoked", http.StatusSeeOther)
	return "", nil
}

// listData is a page of Users or Groups.
type listData struct {
	Query, Active string
	Role, Group   string   // Users: only holders of this role, members of this group
	Roles         []choice // Users: the role filter's choices
	Groups        []choice // Users: the group filter's choices
	Error         string
	Rows          []row
	Total         int
	Start         int // 1-based index of the first row
	PrevURL       string
	NextURL       string
}

// row is one User or Group in a list.
type row struct {
	ID, Name, Display string
	Active            bool
	Members           int
	LastModified      time.Time
}

// searchFilter turns the search box into a SCIM filter: a SCIM filter expression is used as
// it is, plain words search the names.
func searchFilter(q string, attrs ...string) string {
	q = strings.TrimSpace(q)
	if q == "" {
		return ""
	}
	lower := " " + strings.ToLower(q) + " "
	for _, op := range []string{" eq ", " ne ", " co ", " sw ", " ew ", " pr ", " gt ", " ge ", " lt ", " le "} {
		if strings.Contains(lower, op) || strings.HasSuffix(strings.TrimSpace(lower), " pr") {
			return q
		}
	}
	quoted, _ := json.Marshal(q)
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a + " co " + string(quoted)
	}
	return strings.Join(parts, " or ")
}

func and(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") and (" + b + ")"
}

func (c *Console) list(r *http.Request, typ scimtrail.ResourceType, filter string, d *listData) error {
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	start = max(start, 1)
	res, err := c.svc.ListResources(r.Context(), r.PathValue("tenant"), typ, service.ListQuery{
		Filter: filter, StartIndex: start, Count: pageSize, SortBy: sortAttr(typ),
	})
	if code := scimtrail.ErrorCode(err); code == scimtrail.EINVALID {
		d.Error = "That search did not work: " + scimtrail.ErrorMessage(err) +
			". Type part of a name, or a SCIM filter such as userName sw \"a\"."
		return nil
	} else if err != nil {
		return err
	}
	d.Total, d.Start = res.Total, start
	for _, v := range res.Views {
		rs := v.Resource
		d.Rows = append(d.Rows, row{ID: rs.ID, Name: rs.UserName, Display: rs.DisplayName,
			Active: rs.Active, Members: len(v.Members), LastModified: rs.LastModified})
	}
	q := r.URL.Query()
	if start > 1 {
		q.Set("start", strconv.Itoa(max(1, start-pageSize)))
		d.PrevURL = r.URL.Path + "?" + q.Encode()
	}
	if start-1+len(res.Views) < res.Total {
		q.Set("start", strconv.Itoa(start+pageSize))
		d.NextURL = r.URL.Path + "?" + q.Encode()
	}
	return nil
}

func sortAttr(typ scimtrail.ResourceType) string {
	if typ == scimtrail.UserResource {
		return "userName"
	}
	return "displayName"
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	q := r.URL.Query()
	d := &listData{Query: q.Get("q"), Active: q.Get("active"), Role: q.Get("role"), Group: q.Get("group")}
	filter := searchFilter(d.Query, "userName", "displayName")
	switch d.Active {
	case "yes":
		filter = and(filter, "active eq true")
	case "no":
		filter = and(filter, "active eq false")
	default:
		d.Active = ""
	}
	if err := c.userFilterChoices(r, v.TenantID, d); err != nil {
		return "", err
	}
	var err error
	if d.Role == "" && d.Group == "" {
		err = c.list(r, scimtrail.UserResource, filter, d)
	} else {
		err = c.listAmong(r, filter, d)
	}
	if err != nil {
		return "", err
	}
	v.Title = "Users"
	v.Data = d
	return "users", nil
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d := &listData{Query: r.URL.Query().Get("q")}
	if err := c.list(r, scimtrail.GroupResource, searchFilter(d.Query, "displayName"), d); err != nil {
		return "", err
	}
	v.Title = "Groups"
	v.Data = d
	return "groups", nil
}

// attr is one attribute of a resource as shown on its page.
type attr struct{ Name, Value string }

type resourceData struct {
	View    service.View
	Attrs   []attr
	JSON    string
	History []decoded
	Access  *accessData // users only
}

// shownAttrs are the attributes shown at the top of a page, in order; the full document is
// one click further.
var shownAttrs = []string{"userName", "displayName", "name", "emails", "active", "externalId", "title", "userType", "locale"}

func (c *Console) resourcePage(r *http.Request, v *view, typ scimtrail.ResourceType) (*resourceData, error) {
	ctx := r.Context()
	rv, err := c.svc.Resource(ctx, v.TenantID, typ, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	doc := service.Render(rv, c.scimBase(r, v.TenantID))
	d := &resourceData{View: rv}
	for _, name := range shownAttrs {
		val, ok := doc[name]
		if !ok {
			continue
		}
		d.Attrs = append(d.Attrs, attr{Name: name, Value: attrText(val)})
	}
	if ent, ok := doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any); ok {
		for _, k := range []string{"employeeNumber", "department", "organization", "costCenter"} {
			if val, ok := ent[k]; ok {
				d.Attrs = append(d.Attrs, attr{Name: k, Value: attrText(val)})
			}
		}
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	d.JSON = string(b)
	entries, err := c.svc.AuditEntries(ctx, v.TenantID, 0, 200, scimtrail.EntryFilter{TargetID: rv.Resource.ID})
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0 && len(d.History) < 20; i-- {
		d.History = append(d.History, decode(entries[i]))
	}
	return d, nil
}

// attrText renders an attribute value in one line: names by their formatted form, emails
// by their values.
func attrText(val any) string {
	switch x := val.(type) {
	case string:
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case map[string]any:
		if f, ok := x["formatted"].(string); ok {
			return f
		}
		var parts []string
		for _, k := range []string{"givenName", "middleName", "familyName"} {
			if s, ok := x[k].(string); ok {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
	case []any:
		var parts []string
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if s, ok := m["value"].(string); ok {
					if p, _ := m["primary"].(bool); p {
						s += " (primary)"
					}
					parts = append(parts, s)
					continue
				}
			}
			parts = append(parts, attrText(e))
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(val)
	return string(b)
}

func (c *Console) user(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.resourcePage(r, v, scimtrail.UserResource)
	if err != nil {
		return "", err
	}
	if d.Access, err = c.userAccess(r, v.TenantID, d.View.Resource.ID); err != nil {
		return "", err
	}
	v.Title = d.View.Resource.UserName
	v.Data = d
	return "user", nil
}

func (c *Console) group(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.resourcePage(r, v, scimtrail.GroupResource)
	if err != nil {
		return "", err
	}
	v.Title = d.View.Resource.DisplayName
	v.Data = d
	return "group", nil
}

// auditPage is how many entries one page of the audit log shows.
const auditPage = 50

type auditData struct {
	Action, Actor, Target, Since, Until string
	Filtered                            bool
	Entries                             []decoded
	Error                               string
	LogSize                             int64
	OlderURL, NewerURL                  string
}

// datetime-local inputs send minutes without a zone; the console's times are UTC.
const inputTime = "2006-01-02T15:04"

func parseInputTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{inputTime, "2006-01-02T15:04:05", time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time such as 2026-03-03T09:00", s)
}

// audit shows the log newest first. Unfiltered, it pages by seq windows from the end;
// filtered, it reads forward from "after" and shows each page newest first.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	q := r.URL.Query()
	d := &auditData{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")),
		Target: strings.TrimSpace(q.Get("target")), Since: q.Get("since"), Until: q.Get("until")}
	v.Title = "Audit log"
	v.Data = d
	f := scimtrail.EntryFilter{Action: d.Action, ActorID: d.Actor, TargetID: d.Target}
	var err error
	if f.Since, err = parseInputTime(d.Since); err == nil {
		f.Until, err = parseInputTime(d.Until)
	}
	if err != nil {
		d.Error = "The time filter did not work: " + err.Error() + "."
		return "audit", nil
	}
	d.Filtered = f != scimtrail.EntryFilter{}
	if d.LogSize, err = c.svc.LogSize(ctx, v.TenantID); err != nil {
		return "", err
	}
	var entries []scimtrail.StoredEntry
	if !d.Filtered {
		before, err := strconv.ParseInt(q.Get("before"), 10, 64)
		if err != nil || before <= 0 || before > d.LogSize+1 {
			before = d.LogSize + 1
		}
		after := max(0, before-1-auditPage)
		if entries, err = c.svc.AuditEntries(ctx, v.TenantID, after, int(before-1-after), f); err != nil {
			return "", err
		}
		if after > 0 {
			d.OlderURL = fmt.Sprintf("%s?before=%d", r.URL.Path, after+1)
		}
		if before <= d.LogSize {
			d.NewerURL = fmt.Sprintf("%s?before=%d", r.URL.Path, min(d.LogSize+1, before+auditPage))
		}
	} else {
		after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
		entries, err = c.svc.AuditEntries(ctx, v.TenantID, max(0, after), auditPage, f)
		if code := scimtrail.ErrorCode(err); code == scimtrail.EINVALID {
			d.Error = "That filter did not work: " + scimtrail.ErrorMessage(err) + "."
			return "audit", nil
		} else if err != nil {
			return "", err
		}
		if len(entries) == auditPage {
			q.Set("after", strconv.FormatInt(entries[len(entries)-1].Seq, 10))
			d.NewerURL = r.URL.Path + "?" + q.Encode()
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		d.Entries = append(d.Entries, decode(entries[i]))
	}
	return "audit", nil
}
