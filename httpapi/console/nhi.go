package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// serviceAccountsData is the Service accounts page: every account with its owner and keys,
// and, once, the secret of a key just issued.
type serviceAccountsData struct {
	Accounts  []accountView
	Issued    *service.IssuedKey
	IssuedFor string // the account name of Issued
	Lifetimes []choice
	Overlaps  []choice
	Error     string
	Form      url.Values
}

func (d *serviceAccountsData) setError(msg string, f url.Values) { d.Error, d.Form = msg, f }

type accountView struct {
	service.ServiceAccountView
	Owner string // the owner's user name
	now   time.Time
}

// Active reports whether the account can still use its keys.
func (a accountView) Active() bool { return a.State == scimtrail.AccountActive }

// KeyRows are the account's keys, usable ones first.
func (a accountView) KeyRows() []keyView {
	var live, dead []keyView
	for _, k := range a.Keys {
		kv := keyView{NHIKey: k, Usable: k.Usable(a.now)}
		if kv.Usable {
			live = append(live, kv)
		} else {
			dead = append(dead, kv)
		}
	}
	return append(live, dead...)
}

type keyView struct {
	scimtrail.NHIKey
	Usable bool
}

// StateText is the key's state in words.
func (k keyView) StateText() string {
	switch {
	case !k.Revoked.IsZero():
		return "revoked"
	case !k.Usable:
		return "expired"
	case k.ReplacedBy != "":
		return "rotated, works until the overlap ends"
	}
	return "active"
}

var keyLifetimes = []choice{{"90d", "90 days"}, {"30d", "30 days"}, {"365d", "1 year"}, {"", "no expiry (unless the tenant's policy sets one)"}}

var keyOverlaps = []choice{{"24h", "24 hours"}, {"1h", "1 hour"}, {"168h", "7 days"}, {"0s", "none: the old key stops now"}}

func (c *Console) serviceAccountsData(r *http.Request, tenant string) (*serviceAccountsData, error) {
	ctx := r.Context()
	accts, err := c.svc.ServiceAccounts(ctx, tenant)
	if err != nil {
		return nil, err
	}
	n, err := c.names(r, tenant)
	if err != nil {
		return nil, err
	}
	d := &serviceAccountsData{Lifetimes: keyLifetimes, Overlaps: keyOverlaps, Form: url.Values{}}
	now := c.svc.Now()
	for _, a := range accts {
		av, err := c.svc.ServiceAccount(ctx, tenant, a.ID)
		if err != nil {
			return nil, err
		}
		d.Accounts = append(d.Accounts, accountView{ServiceAccountView: av, Owner: n.user(a.OwnerID), now: now})
	}
	return d, nil
}

func (c *Console) serviceAccounts(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.serviceAccountsData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "created":
		v.Flash = "The service account was created. Issue it a key to let it call your app."
	case "revoked":
		v.Flash = "The key was revoked. Requests that use it are refused from now on."
	case "disabled":
		v.Flash = "The service account was disabled. None of its keys work any more."
	}
	v.Title = "Service accounts"
	v.Data = d
	return "serviceaccounts", nil
}

// accountAction runs one change from the Service accounts page. A change that issued a
// key renders the page with its secret, shown once; any other redirects back.
func (c *Console) accountAction(w http.ResponseWriter, r *http.Request, v *view, done string, act func(o service.Origin) (*service.IssuedKey, string, error)) (string, error) {
	r.ParseForm()
	issued, flash, err := act(c.origin(w, r, v.Session))
	if err == nil && issued == nil {
		http.Redirect(w, r, "/console/t/"+v.TenantID+"/service-accounts?done="+done, http.StatusSeeOther)
		return "", nil
	}
	d, derr := c.serviceAccountsData(r, v.TenantID)
	if derr != nil {
		return "", derr
	}
	v.Title = "Service accounts"
	v.Data = d
	if err != nil {
		if err := formFailed(v, d, r, err); err != nil {
			return "", err
		}
		return "serviceaccounts", nil
	}
	d.Issued = issued
	for _, a := range d.Accounts {
		if a.ID == issued.AccountID {
			d.IssuedFor = a.Name
		}
	}
	v.Flash = flash
	return "serviceaccounts", nil
}

func (c *Console) createServiceAccount(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.accountAction(w, r, v, "created", func(o service.Origin) (*service.IssuedKey, string, error) {
		name := strings.TrimSpace(r.PostFormValue("name"))
		if name == "" {
			return nil, "", scimtrail.Errorf(scimtrail.EINVALID, "Give the service account a name that says what uses it, such as \"billing-sync\".")
		}
		owner, err := c.findUser(r, v.TenantID, r.PostFormValue("owner"))
		if err != nil {
			return nil, "", err
		}
		_, _, err = c.svc.CreateServiceAccount(r.Context(), o, v.TenantID, service.ServiceAccountInput{
			Name: name, Description: strings.TrimSpace(r.PostFormValue("description")), OwnerID: owner})
		return nil, "", err
	})
}

func (c *Console) issueKey(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.accountAction(w, r, v, "", func(o service.Origin) (*service.IssuedKey, string, error) {
		ttl, ok := lifetimes[r.PostFormValue("expires")]
		if !ok {
			return nil, "", scimtrail.Errorf(scimtrail.EINVALID, "Choose how long the key should last.")
		}
		ik, _, err := c.svc.IssueKey(r.Context(), o, v.TenantID, r.PathValue("id"), ttl)
		if scimtrail.ErrorCode(err) == scimtrail.ECONFLICT {
			return nil, "", scimtrail.Errorf(scimtrail.ECONFLICT, "This service account is disabled, so it cannot get new keys. Create a new account instead.")
		}
		return &ik, "A new key was issued.", err
	})
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.accountAction(w, r, v, "", func(o service.Origin) (*service.IssuedKey, string, error) {
		overlap, err := time.ParseDuration(r.PostFormValue("overlap"))
		if err != nil {
			return nil, "", scimtrail.Errorf(scimtrail.EINVALID, "Choose how long the old key should keep working.")
		}
		ik, _, err := c.svc.RotateKey(r.Context(), o, v.TenantID, r.PathValue("id"), r.PathValue("key"), overlap, 0)
		if scimtrail.ErrorCode(err) == scimtrail.ECONFLICT {
			return nil, "", scimtrail.Errorf(scimtrail.ECONFLICT, "Only a working key of an active account can be rotated. Issue a new key instead.")
		}
		flash := "The key was rotated. The old key keeps working for " + overlap.String() + ": deploy the new one before then."
		if overlap == 0 {
			flash = "The key was rotated. The old key stopped working at once."
		}
		return &ik, flash, err
	})
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.accountAction(w, r, v, "revoked", func(o service.Origin) (*service.IssuedKey, string, error) {
		_, err := c.svc.RevokeKey(r.Context(), o, v.TenantID, r.PathValue("id"), r.PathValue("key"))
		return nil, "", err
	})
}

func (c *Console) disableServiceAccount(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	return c.accountAction(w, r, v, "disabled", func(o service.Origin) (*service.IssuedKey, string, error) {
		_, _, err := c.svc.DisableServiceAccount(r.Context(), o, v.TenantID, r.PathValue("id"), strings.TrimSpace(r.PostFormValue("reason")))
		return nil, "", err
	})
}
