package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/access"
	"github.com/scimtrail/scimtrail/service"
)

// names resolves the ids a page shows (groups, users, roles) to the names people know, once
// each per request. An id that no longer resolves (a deleted group) is shown as it is.
type names struct {
	c      *Console
	ctx    context.Context
	tenant string
	cache  map[string]string
	roles  map[string]scimtrail.Role
	tokens map[string]string // token id → name, loaded on first use
}

// actor names the token that made a grant: its name when it is one of the tenant's tokens.
func (n *names) actor(id string) string {
	if n.tokens == nil {
		n.tokens = map[string]string{}
		if ts, err := n.c.svc.Tokens(n.ctx, n.tenant); err == nil {
			for _, t := range ts {
				if t.Name != "" {
					n.tokens[t.ID] = t.Name
				}
			}
		}
	}
	if name, ok := n.tokens[id]; ok {
		return name
	}
	return id
}

func (c *Console) names(r *http.Request, tenant string) (*names, error) {
	n := &names{c: c, ctx: r.Context(), tenant: tenant, cache: map[string]string{}, roles: map[string]scimtrail.Role{}}
	roles, err := c.svc.Roles(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	for _, ro := range roles {
		n.roles[ro.ID] = ro
	}
	return n, nil
}

func (n *names) resource(typ scimtrail.ResourceType, id string) string {
	key := string(typ) + "/" + id
	if s, ok := n.cache[key]; ok {
		return s
	}
	s := id
	if v, err := n.c.svc.Resource(n.ctx, n.tenant, typ, id); err == nil {
		s = v.Resource.DisplayName
		if typ == scimtrail.UserResource && v.Resource.UserName != "" {
			s = v.Resource.UserName
		}
		if s == "" {
			s = id
		}
	}
	n.cache[key] = s
	return s
}

func (n *names) group(id string) string { return n.resource(scimtrail.GroupResource, id) }
func (n *names) user(id string) string  { return n.resource(scimtrail.UserResource, id) }

func (n *names) role(id string) string {
	if r, ok := n.roles[id]; ok && r.Name != "" {
		return r.Name
	}
	return id
}

// pathView is one provenance path in words.
type pathView struct {
	Kind    string // the AccessPath kind, for styling and tests
	Text    string // "group Engineering → All Staff"
	Groups  []link // the group chain, the user's own group first
	Expires time.Time
}

type link struct{ ID, Name string }

// describePath says how a path grants a role, in words a customer admin understands.
func describePath(n *names, p scimtrail.AccessPath, grants map[string]scimtrail.Grant) pathView {
	pv := pathView{Kind: p.Kind}
	switch p.Kind {
	case scimtrail.PathGroup:
		var parts []string
		for _, g := range p.Via {
			name := n.group(g)
			pv.Groups = append(pv.Groups, link{ID: g, Name: name})
			parts = append(parts, name)
		}
		pv.Text = "member of group " + strings.Join(parts, " → ")
		if len(parts) > 1 {
			pv.Text = "member of group " + parts[0] + ", nested in " + strings.Join(parts[1:], " → ")
		}
	case scimtrail.PathDirect:
		pv.Text = "direct grant"
		if g, ok := grants[p.Grant]; ok {
			pv.Text += " by " + n.actor(g.By) + ": “" + g.Reason + "”"
		}
	case scimtrail.PathSCIM:
		pv.Text = "sent by your IdP in the user's roles"
	case scimtrail.PathBreakGlass:
		pv.Text = "break-glass"
		if g, ok := grants[p.Grant]; ok {
			pv.Text += " by " + n.actor(g.By) + ": “" + g.Reason + "”"
			pv.Expires = g.Expires
		}
	default:
		pv.Text = p.Kind
	}
	return pv
}

func grantsByID(gs []scimtrail.Grant) map[string]scimtrail.Grant {
	m := map[string]scimtrail.Grant{}
	for _, g := range gs {
		m[g.ID] = g
	}
	return m
}

// roleView is one role a user holds, with its paths.
type roleView struct {
	ID, Name   string
	Privileged bool
	Since      time.Time
	Paths      []pathView
}

// accessData is the Effective access section of a user's page.
type accessData struct {
	At       time.Time // the instant shown
	AtInput  string    // the as-of picker's value; "" for now
	Past     bool
	Error    string
	Roles    []roleView
	Timeline timeline
}

// userAccess fills the Effective access section: access at ?at= (now when absent), and
// the timeline of every interval the log records.
func (c *Console) userAccess(r *http.Request, tenant, userID string) (*accessData, error) {
	d := &accessData{AtInput: r.URL.Query().Get("at")}
	at, err := parseInputTime(d.AtInput)
	if err != nil {
		d.Error = "The “as of” date did not work: " + err.Error() + "."
		at = time.Time{}
	}
	now := c.svc.Now().UTC()
	if at.After(now) {
		at = time.Time{}
	}
	d.Past = !at.IsZero()
	n, err := c.names(r, tenant)
	if err != nil {
		return nil, err
	}
	ans, err := c.svc.AccessAt(r.Context(), tenant, at, userID, "")
	if err != nil {
		return nil, err
	}
	d.At = ans.At
	gs, err := c.svc.Grants(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	grants := grantsByID(gs)
	for _, ua := range ans.Users {
		d.Roles = append(d.Roles, roleViews(n, ua.Access, grants)...)
	}
	ivs, err := c.svc.AccessHistory(r.Context(), tenant, userID)
	if err != nil {
		return nil, err
	}
	marker := time.Time{}
	if d.Past {
		marker = at
	}
	d.Timeline = newTimeline(n, ivs, now, marker)
	return d, nil
}

func roleViews(n *names, ras []access.RoleAccess, grants map[string]scimtrail.Grant) []roleView {
	var out []roleView
	for _, ra := range ras {
		rv := roleView{ID: ra.Role, Name: n.role(ra.Role), Privileged: n.roles[ra.Role].Privileged, Since: ra.Since}
		for _, p := range ra.Paths {
			rv.Paths = append(rv.Paths, describePath(n, p, grants))
		}
		out = append(out, rv)
	}
	return out
}

// timeline is the access timeline: one row per (role, path) the user ever held, a bar per
// interval, laid out here so that the template only draws rectangles.
type timeline struct {
	Width, Height int
	PlotX, PlotW  int
	Rows          []tlRow
	Ticks         []tlTick
	MarkerX       int
	Marker        string // the as-of instant, "" for none
	Summary       string
	Intervals     []tlInterval // the same as a table, for screen readers and copying
}

type tlRow struct {
	Label, Kind string
	Y, TextY    int
	Bars        []tlBar
}

type tlBar struct {
	X, W   int
	Colour string
	Title  string
}

type tlTick struct {
	X      int
	Label  string
	Anchor string // text-anchor, so the last label stays inside the chart
}

type tlInterval struct {
	Role, Path string
	From, To   time.Time
	Open       bool
}

// pathColours tell path kinds apart (colour-blind-safe palette, as in the overview chart).
var pathColours = map[string]string{
	scimtrail.PathGroup:      "#0072b2",
	scimtrail.PathDirect:     "#009e73",
	scimtrail.PathSCIM:       "#cc79a7",
	scimtrail.PathBreakGlass: "#d55e00",
}

func newTimeline(n *names, ivs []scimtrail.AccessInterval, now, marker time.Time) timeline {
	const labelW, plotW, rowH, top = 260, 520, 26, 8
	tl := timeline{PlotX: labelW, PlotW: plotW, Width: labelW + plotW + 10}
	if len(ivs) == 0 {
		return tl
	}
	start := ivs[0].From
	for _, iv := range ivs {
		if iv.From.Before(start) {
			start = iv.From
		}
	}
	if !marker.IsZero() && marker.Before(start) {
		start = marker
	}
	// The plot runs from a little before the first grant to now.
	end := now
	pad := max(end.Sub(start)/10, time.Second)
	start = start.Add(-pad)
	span := end.Sub(start)
	x := func(t time.Time) int {
		if t.Before(start) {
			t = start
		}
		return labelW + int(float64(plotW)*float64(t.Sub(start))/float64(span))
	}
	rows := map[string]int{}
	for _, iv := range ivs {
		pv := describePath(n, iv.Path, nil)
		label := n.role(iv.Role) + " · " + shortPath(pv)
		key := iv.Role + "|" + iv.Path.Key()
		i, ok := rows[key]
		if !ok {
			i = len(tl.Rows)
			rows[key] = i
			y := top + i*rowH
			tl.Rows = append(tl.Rows, tlRow{Label: label, Kind: iv.Path.Kind, Y: y + 4, TextY: y + 17})
		}
		to, open := iv.To, iv.To.IsZero()
		if !iv.Expires.IsZero() && (open || iv.Expires.Before(to)) {
			to, open = iv.Expires, false
			if iv.Expires.After(now) {
				to = now
				open = true
			}
		}
		if open {
			to = end
		}
		x0, x1 := x(iv.From), x(to)
		until := "now"
		if !open {
			until = to.UTC().Format("2006-01-02 15:04 UTC")
		}
		tl.Rows[i].Bars = append(tl.Rows[i].Bars, tlBar{X: x0, W: max(2, x1-x0), Colour: pathColours[iv.Path.Kind],
			Title: fmt.Sprintf("%s from %s until %s", label, iv.From.UTC().Format("2006-01-02 15:04 UTC"), until)})
		tl.Intervals = append(tl.Intervals, tlInterval{Role: n.role(iv.Role), Path: pv.Text, From: iv.From, To: to, Open: open})
	}
	plotBottom := top + len(tl.Rows)*rowH
	tl.Height = plotBottom + 24
	layout := "15:04:05"
	switch {
	case span > 72*time.Hour:
		layout = "Jan 2"
	case span > time.Hour:
		layout = "Jan 2 15:04"
	}
	for i := range 5 {
		t := start.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		if i == 4 {
			anchor = "end"
		}
		tl.Ticks = append(tl.Ticks, tlTick{X: x(t), Label: t.UTC().Format(layout), Anchor: anchor})
	}
	if !marker.IsZero() {
		tl.MarkerX = x(marker)
		tl.Marker = marker.UTC().Format("2006-01-02 15:04 UTC")
	}
	tl.Summary = fmt.Sprintf("%d access interval%s across %d role path%s, from %s to now.", len(tl.Intervals), pluralS(len(tl.Intervals)),
		len(tl.Rows), pluralS(len(tl.Rows)), start.UTC().Format("2006-01-02 15:04 UTC"))
	return tl
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// shortPath is a path in a few words, for the timeline's row labels.
func shortPath(pv pathView) string {
	switch pv.Kind {
	case scimtrail.PathGroup:
		var parts []string
		for _, g := range pv.Groups {
			parts = append(parts, g.Name)
		}
		return "via " + strings.Join(parts, " → ")
	case scimtrail.PathDirect:
		return "direct grant"
	case scimtrail.PathSCIM:
		return "from IdP"
	case scimtrail.PathBreakGlass:
		return "break-glass"
	}
	return pv.Kind
}

// rolesData is the Roles & mappings page.
type rolesData struct {
	Roles    []scimtrail.Role
	Live     []scimtrail.Role // roles that can be mapped and granted
	Mappings []mappingView
	Grants   []grantView
	Groups   []link
	Error    string
	Form     url.Values // the values of a form that failed, so nothing typed is lost
}

type mappingView struct {
	ID, GroupID, Group, Role, RoleName string
	Created                            time.Time
}

type grantView struct {
	scimtrail.Grant
	User, RoleName string
}

func (c *Console) rolesData(r *http.Request, tenant string) (*rolesData, error) {
	ctx := r.Context()
	n, err := c.names(r, tenant)
	if err != nil {
		return nil, err
	}
	d := &rolesData{Form: url.Values{}}
	if d.Roles, err = c.svc.Roles(ctx, tenant); err != nil {
		return nil, err
	}
	for _, ro := range d.Roles {
		if ro.Retired.IsZero() {
			d.Live = append(d.Live, ro)
		}
	}
	ms, err := c.svc.Mappings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		d.Mappings = append(d.Mappings, mappingView{ID: m.ID, GroupID: m.GroupID, Group: n.group(m.GroupID), Role: m.Role,
			RoleName: n.role(m.Role), Created: m.Created})
	}
	slices.SortFunc(d.Mappings, func(a, b mappingView) int { return strings.Compare(a.Group+a.Role, b.Group+b.Role) })
	gs, err := c.svc.Grants(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.Kind == scimtrail.GrantDirect {
			d.Grants = append(d.Grants, grantView{Grant: g, User: n.user(g.UserID), RoleName: n.role(g.Role)})
		}
	}
	groups, err := c.svc.ListResources(ctx, tenant, scimtrail.GroupResource, service.ListQuery{Count: 500, SortBy: "displayName"})
	if err != nil {
		return nil, err
	}
	for _, v := range groups.Views {
		d.Groups = append(d.Groups, link{ID: v.Resource.ID, Name: v.Resource.DisplayName})
	}
	return d, nil
}

func (c *Console) roles(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.rolesData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "role":
		v.Flash = "The role was added to this tenant's catalogue."
	case "mapped":
		v.Flash = "The group is mapped to the role. Its members, and members of groups nested in it, now hold the role."
	case "unmapped":
		v.Flash = "The mapping was removed. Members keep the role only where another path still grants it."
	case "granted":
		v.Flash = "The role was granted."
	case "revoked":
		v.Flash = "The grant was revoked."
	}
	v.Title = "Roles & mappings"
	v.Data = d
	return "roles", nil
}

// formFailed re-renders a page with a form's error, in the customer's words, and what was
// typed; errors other than invalid input or conflicts become error pages.
func formFailed(v *view, d interface{ setError(string, url.Values) }, r *http.Request, err error) error {
	switch scimtrail.ErrorCode(err) {
	case scimtrail.EINVALID, scimtrail.ECONFLICT:
		d.setError(scimtrail.ErrorMessage(err), r.PostForm)
		v.Status = http.StatusBadRequest
		return nil
	case scimtrail.EFORBIDDEN:
		// A refusal the person can act on (a delegated admin's scope, the requester
		// approving their own break-glass), shown where the form is.
		d.setError(scimtrail.ErrorMessage(err), r.PostForm)
		v.Status = http.StatusForbidden
		return nil
	}
	return err
}

// mayGrant enforces a delegated admin token's scope as the API does: a scoped admin
// grants, maps and breaks glass only for the roles in its scope.
func (c *Console) mayGrant(r *http.Request, v *view, role string) error {
	if v.Session.token.Kind != scimtrail.TokenAdmin {
		return nil
	}
	return c.svc.MayGrant(r.Context(), v.Session.token, role)
}

// mayIssueTokens enforces a delegated admin token's scope on SCIM token issue, rotation
// and revocation, as the API does.
func (c *Console) mayIssueTokens(r *http.Request, v *view) error {
	if v.Session.token.Kind != scimtrail.TokenAdmin {
		return nil
	}
	return c.svc.MayIssueTokens(r.Context(), v.Session.token, scimtrail.TokenSCIM, nil)
}

func (d *rolesData) setError(msg string, f url.Values) { d.Error, d.Form = msg, f }

// rolesAction runs one change from the Roles & mappings page and redirects back, or shows
// the page again with the error.
func (c *Console) rolesAction(w http.ResponseWriter, r *http.Request, v *view, done string, act func(o service.Origin) error) (string, error) {
	r.ParseForm()
	if err := act(c.origin(w, r, v.Session)); err != nil {
		d, derr := c.rolesData(r, v.TenantID)
		if derr != nil {
			return "", derr
		}
		v.Title = "Roles & mappings"
		v.Data = d
		if err := formFailed(v, d, r, err); err != nil {
			return "", err
		}
		return "roles", nil
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/roles?done="+done, http.StatusSeeOther)
	return "", nil
}

func (c *Console) createRole(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.rolesAction(w, r, v, "role", func(o service.Origin) error {
		in := service.RoleInput{ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
			Description: strings.TrimSpace(r.PostFormValue("description")), Privileged: r.PostFormValue("privileged") == "on"}
		_, _, err := c.svc.CreateRole(r.Context(), o, v.TenantID, in)
		return err
	})
}

func (c *Console) createMapping(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.rolesAction(w, r, v, "mapped", func(o service.Origin) error {
		group, role := r.PostFormValue("group"), r.PostFormValue("role")
		if group == "" || role == "" {
			return scimtrail.Errorf(scimtrail.EINVALID, "Choose both a group and a role to map it to.")
		}
		if err := c.mayGrant(r, v, role); err != nil {
			return err
		}
		_, _, err := c.svc.CreateMapping(r.Context(), o, v.TenantID, group, role)
		if scimtrail.ErrorCode(err) == scimtrail.ECONFLICT {
			return scimtrail.Errorf(scimtrail.ECONFLICT, "That group is already mapped to that role.")
		}
		return err
	})
}

func (c *Console) deleteMapping(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.rolesAction(w, r, v, "unmapped", func(o service.Origin) error {
		_, err := c.svc.DeleteMapping(r.Context(), o, v.TenantID, r.PathValue("id"))
		return err
	})
}

func (c *Console) createGrant(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.rolesAction(w, r, v, "granted", func(o service.Origin) error {
		user, err := c.findUser(r, v.TenantID, r.PostFormValue("user"))
		if err != nil {
			return err
		}
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if reason == "" {
			return scimtrail.Errorf(scimtrail.EINVALID, "Say why this person needs the role: a direct grant needs a reason, which the audit log keeps.")
		}
		if err := c.mayGrant(r, v, r.PostFormValue("role")); err != nil {
			return err
		}
		_, _, err = c.svc.GrantRole(r.Context(), o, v.TenantID, user, r.PostFormValue("role"), reason)
		return err
	})
}

func (c *Console) revokeGrant(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	back := r.PostFormValue("back")
	if _, err := c.svc.RevokeGrant(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id")); err != nil {
		return "", err
	}
	target := "/console/t/" + v.TenantID + "/roles?done=revoked"
	if back == "break-glass" {
		target = "/console/t/" + v.TenantID + "/break-glass?done=revoked"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return "", nil
}

// findUser resolves what was typed in a user field: a userName (what admins know) or an id.
func (c *Console) findUser(r *http.Request, tenant, typed string) (string, error) {
	typed = strings.TrimSpace(typed)
	if typed == "" {
		return "", scimtrail.Errorf(scimtrail.EINVALID, "Type the user's user name, such as alice@example.com.")
	}
	q, _ := jsonString(typed)
	res, err := c.svc.ListResources(r.Context(), tenant, scimtrail.UserResource, service.ListQuery{Filter: "userName eq " + q, Count: 1})
	if err != nil {
		return "", err
	}
	if len(res.Views) == 1 {
		return res.Views[0].Resource.ID, nil
	}
	if _, err := c.svc.Resource(r.Context(), tenant, scimtrail.UserResource, typed); err == nil {
		return typed, nil
	}
	return "", scimtrail.Errorf(scimtrail.EINVALID, "There is no user %q in this tenant. Type the user name exactly as the Users page shows it.", typed)
}

// holdersData is a role's holders at an instant.
type holdersData struct {
	Role    scimtrail.Role
	At      time.Time
	AtInput string
	Past    bool
	Error   string
	Holders []holderView
	Total   int
}

type holderView struct {
	UserID, User string
	Paths        []pathView
}

// maxHolders bounds the holders one page lists; the API returns them all.
const maxHolders = 500

func (c *Console) roleHolders(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	n, err := c.names(r, v.TenantID)
	if err != nil {
		return "", err
	}
	ro, ok := n.roles[r.PathValue("role")]
	if !ok {
		return "", scimtrail.Errorf(scimtrail.ENOTFOUND, "no such role")
	}
	d := &holdersData{Role: ro, AtInput: r.URL.Query().Get("at")}
	v.Title = "Holders of " + ro.Name
	v.Data = d
	at, err := parseInputTime(d.AtInput)
	if err != nil {
		d.Error = "The “as of” date did not work: " + err.Error() + "."
		return "holders", nil
	}
	if at.After(c.svc.Now()) {
		at = time.Time{}
	}
	d.Past = !at.IsZero()
	ans, err := c.svc.AccessAt(ctx, v.TenantID, at, "", ro.ID)
	if err != nil {
		return "", err
	}
	d.At = ans.At
	gs, err := c.svc.Grants(ctx, v.TenantID)
	if err != nil {
		return "", err
	}
	grants := grantsByID(gs)
	d.Total = len(ans.Users)
	for _, ua := range ans.Users {
		if len(d.Holders) == maxHolders {
			break
		}
		h := holderView{UserID: ua.UserID, User: n.user(ua.UserID)}
		for _, ra := range ua.Access {
			for _, p := range ra.Paths {
				h.Paths = append(h.Paths, describePath(n, p, grants))
			}
		}
		d.Holders = append(d.Holders, h)
	}
	slices.SortFunc(d.Holders, func(a, b holderView) int { return strings.Compare(a.User, b.User) })
	return "holders", nil
}

// breakGlassData is the Break-glass page.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// remaining says how long until t, in hours and minutes, for break-glass countdowns (which
// console.js keeps ticking).
func remaining(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		return fmt.Sprintf("%dh %02dm %02ds left", h, m, s)
	}
	return fmt.Sprintf("%dm %02ds left", m, s)
}
