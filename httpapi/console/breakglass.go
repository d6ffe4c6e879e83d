package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

type breakGlassData struct {
	Live      []scimtrail.Role
	Active    []grantView
	History   []breakGlassUse
	Pending   []requestView
	Decided   []requestView
	Durations []string
	Max       string
	// SecondAdmin is the tenant's policy that a request waits for another admin's approval.
	SecondAdmin bool
	Me          string // the session's token id: its own requests cannot be approved by it
	Error       string
	Form        url.Values
}

func (d *breakGlassData) setError(msg string, f url.Values) { d.Error, d.Form = msg, f }

// breakGlassUse is one break-glass grant as the log recorded it.
type breakGlassUse struct {
	Seq                 int64
	Time, Expires       time.Time
	By, User, Role, Why string
}

// requestView is a break-glass request with its people named.
type requestView struct {
	scimtrail.BreakGlassRequest
	User, RoleName, Requester, Decider string
}

// breakGlassDurations are the choices of the request form, up to service.MaxBreakGlass.
var breakGlassDurations = []string{"15m", "30m", "1h", "2h", "4h", "8h"}

// recentDecisions is how many decided requests the page lists below the pending ones.
const recentDecisions = 20

func (c *Console) breakGlassData(r *http.Request, tenant string, me string) (*breakGlassData, error) {
	ctx := r.Context()
	n, err := c.names(r, tenant)
	if err != nil {
		return nil, err
	}
	d := &breakGlassData{Form: url.Values{}, Max: service.MaxBreakGlass.String(), Me: me}
	for _, s := range breakGlassDurations {
		if dur, _ := time.ParseDuration(s); dur <= service.MaxBreakGlass {
			d.Durations = append(d.Durations, s)
		}
	}
	settings, err := c.svc.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	d.SecondAdmin = settings.BreakGlassApproval == scimtrail.BreakGlassApprovalSecondAdmin
	roles, err := c.svc.Roles(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, ro := range roles {
		if ro.Retired.IsZero() {
			d.Live = append(d.Live, ro)
		}
	}
	reqs, err := c.svc.BreakGlassRequests(ctx, tenant, 0)
	if err != nil {
		return nil, err
	}
	for _, rq := range reqs {
		rv := requestView{BreakGlassRequest: rq, User: n.user(rq.UserID), RoleName: n.role(rq.Role), Requester: n.actor(rq.RequestedBy)}
		if rq.DecidedBy != "" {
			rv.Decider = n.actor(rq.DecidedBy)
		}
		if rq.State == scimtrail.RequestPending {
			d.Pending = append(d.Pending, rv)
		} else if len(d.Decided) < recentDecisions {
			d.Decided = append(d.Decided, rv)
		}
	}
	gs, err := c.svc.Grants(ctx, tenant)
	if err != nil {
		return nil, err
	}
	now := c.svc.Now()
	for _, g := range gs {
		if g.Kind == scimtrail.GrantBreakGlass && g.Expires.After(now) {
			d.Active = append(d.Active, grantView{Grant: g, User: n.user(g.UserID), RoleName: n.role(g.Role)})
		}
	}
	slices.SortFunc(d.Active, func(a, b grantView) int { return a.Expires.Compare(b.Expires) })
	entries, err := c.svc.AuditEntries(ctx, tenant, 0, service.MaxResults, scimtrail.EntryFilter{Action: "break_glass.granted"})
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := decode(entries[i])
		u := breakGlassUse{Seq: e.Seq, Time: e.Time, By: e.ActorLabel(), Why: e.Reason}
		for _, ch := range e.Changes {
			s, _ := ch.New.(string)
			switch ch.Path {
			case "user_id":
				u.User = n.user(s)
			case "role":
				u.Role = n.role(s)
			case "expires":
				u.Expires, _ = time.Parse(time.RFC3339Nano, s)
			}
		}
		d.History = append(d.History, u)
	}
	return d, nil
}

func (c *Console) breakGlass(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.breakGlassData(r, v.TenantID, v.Session.token.ID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "granted":
		v.Flash = "Break-glass access was granted. It ends by itself when the time runs out; every action under it is flagged in the audit log."
	case "requested":
		v.Flash = "Your request is waiting for a second admin. Ask another admin of this tenant to approve it on this page; the time starts when they do."
	case "approved":
		v.Flash = "You approved the request: the access is granted from now for the time asked."
	case "denied":
		v.Flash = "The request was denied. Nothing was granted."
	case "revoked":
		v.Flash = "The break-glass access was ended."
	}
	v.Title = "Break-glass"
	v.Data = d
	return "breakglass", nil
}

// breakGlassAction runs one break-glass change and redirects back with done, or shows the
// page again with the error where the form is.
func (c *Console) breakGlassAction(w http.ResponseWriter, r *http.Request, v *view, act func(o service.Origin) (string, error)) (string, error) {
	r.ParseForm()
	done, err := act(c.origin(w, r, v.Session))
	if err == nil {
		http.Redirect(w, r, "/console/t/"+v.TenantID+"/break-glass?done="+done, http.StatusSeeOther)
		return "", nil
	}
	d, derr := c.breakGlassData(r, v.TenantID, v.Session.token.ID)
	if derr != nil {
		return "", derr
	}
	v.Title = "Break-glass"
	v.Data = d
	if err := formFailed(v, d, r, err); err != nil {
		return "", err
	}
	return "breakglass", nil
}

func (c *Console) requestBreakGlass(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.breakGlassAction(w, r, v, func(o service.Origin) (string, error) {
		user, err := c.findUser(r, v.TenantID, r.PostFormValue("user"))
		if err != nil {
			return "", err
		}
		why := strings.TrimSpace(r.PostFormValue("justification"))
		if why == "" {
			return "", scimtrail.Errorf(scimtrail.EINVALID, "Say why emergency access is needed: break-glass needs a justification, which the audit log keeps.")
		}
		dur, err := time.ParseDuration(r.PostFormValue("duration"))
		if err != nil {
			return "", scimtrail.Errorf(scimtrail.EINVALID, "Choose how long the access should last.")
		}
		if err := c.mayGrant(r, v, r.PostFormValue("role")); err != nil {
			return "", err
		}
		out, _, err := c.svc.BreakGlass(r.Context(), o, v.TenantID, user, r.PostFormValue("role"), why, dur)
		if err != nil {
			return "", err
		}
		if out.Request != nil {
			return "requested", nil
		}
		return "granted", nil
	})
}

// decideBreakGlass approves or denies a pending request. A delegated admin token approving
// must be allowed to grant the role itself (mayGrant), as on the API.
func (c *Console) decideBreakGlass(approve bool) func(http.ResponseWriter, *http.Request, *view) (string, error) {
	return func(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
		return c.breakGlassAction(w, r, v, func(o service.Origin) (string, error) {
			id := r.PathValue("id")
			if approve {
				rq, err := c.svc.BreakGlassRequest(r.Context(), v.TenantID, id)
				if err != nil {
					return "", err
				}
				if err := c.mayGrant(r, v, rq.Role); err != nil {
					return "", err
				}
			}
			if _, _, err := c.svc.DecideBreakGlass(r.Context(), o, v.TenantID, id, approve, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
				return "", err
			}
			if approve {
				return "approved", nil
			}
			return "denied", nil
		})
	}
}
