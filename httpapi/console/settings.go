package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// settingsData is the Settings page: the tenant's SCIM settings, break-glass approval
// policy and log retention.
type settingsData struct {
	Settings      scimtrail.TenantSettings
	Retention     scimtrail.Retention
	RetentionDays string // "" keeps entries forever
	Error         string
	ErrorAt       string // which form the error belongs to: "settings" or "retention"
}

// Choices of the settings form, with what each means to the person choosing.
var (
	dialectChoices = []choice{
		{"auto", "Auto — recognise Entra ID and Okta by their requests, strict otherwise"},
		{"entra", "Microsoft Entra ID"},
		{"okta", "Okta"},
		{"strict", "Strict RFC 7644 — refuse every deviation"},
	}
	passwordChoices = []choice{
		{service.PasswordDiscard, "Discard — accept a password, never store it"},
		{service.PasswordReject, "Reject — refuse requests that carry a password"},
	}
	approvalChoices = []choice{
		{scimtrail.BreakGlassApprovalNone, "None — an admin's request is granted at once"},
		{scimtrail.BreakGlassApprovalSecondAdmin, "Second admin — another admin must approve each request"},
	}
)

func (settingsData) Dialects() []choice  { return dialectChoices }
func (settingsData) Passwords() []choice { return passwordChoices }
func (settingsData) Approvals() []choice { return approvalChoices }

func (c *Console) settingsData(r *http.Request, tenant string) (*settingsData, error) {
	st, err := c.svc.TenantSettings(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	ret, err := c.svc.Retention(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	d := &settingsData{Settings: st, Retention: ret}
	if ret.Period > 0 {
		d.RetentionDays = strconv.FormatInt(int64(ret.Period/(24*time.Hour)), 10)
	}
	return d, nil
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.settingsData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "settings":
		v.Flash = "The settings were saved and recorded in the audit log. They apply from the next request."
	case "retention":
		v.Flash = "The retention policy was saved and recorded in the audit log."
	}
	v.Title = "Settings"
	v.Data = d
	return "settings", nil
}

// settingsFailed shows the page again with a user's error next to the form at.
func (c *Console) settingsFailed(r *http.Request, v *view, at string, err error) (string, error) {
	if scimtrail.ErrorCode(err) != scimtrail.EINVALID {
		return "", err
	}
	d, derr := c.settingsData(r, v.TenantID)
	if derr != nil {
		return "", derr
	}
	d.Error, d.ErrorAt = scimtrail.ErrorMessage(err), at
	v.Title, v.Data, v.Status = "Settings", d, http.StatusBadRequest
	return "settings", nil
}

func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	r.ParseForm()
	var ch service.SettingsChange
	for _, f := range []struct {
		name string
		dst  **string
	}{{"dialect", &ch.Dialect}, {"password_policy", &ch.PasswordPolicy}, {"break_glass_approval", &ch.BreakGlassApproval}} {
		if vals, ok := r.PostForm[f.name]; ok && len(vals) > 0 {
			val := vals[0]
			*f.dst = &val
		}
	}
	if _, _, err := c.svc.UpdateTenantSettings(r.Context(), c.origin(w, r, v.Session), v.TenantID, ch); err != nil {
		return c.settingsFailed(r, v, "settings", err)
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/settings?done=settings", http.StatusSeeOther)
	return "", nil
}

func (c *Console) saveRetention(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	r.ParseForm()
	days := strings.TrimSpace(r.PostFormValue("retention_days"))
	var period time.Duration
	if days != "" && days != "0" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return c.settingsFailed(r, v, "retention", scimtrail.Errorf(scimtrail.EINVALID,
				"Retention is a whole number of days between 1 and 36500, or empty to keep entries forever; %q is not.", days))
		}
		period = time.Duration(n) * 24 * time.Hour
	}
	hold := r.PostFormValue("legal_hold") == "on"
	if _, _, err := c.svc.SetRetention(r.Context(), c.origin(w, r, v.Session), v.TenantID, period, hold); err != nil {
		return c.settingsFailed(r, v, "retention", err)
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/settings?done=retention", http.StatusSeeOther)
	return "", nil
}

// schemasData is the Schemas page: the tenant's custom schema extensions.
type schemasData struct {
	Schemas    []schemaView
	Error      string
	Definition string // the text the person submitted, kept after an error
}

type schemaView struct {
	scimtrail.TenantSchema
	Pretty     string // the definition, indented
	Attributes []string
}

func (c *Console) schemasData(r *http.Request, tenant string) (*schemasData, error) {
	all, err := c.svc.TenantSchemas(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	d := &schemasData{}
	for _, s := range all {
		sv := schemaView{TenantSchema: s}
		var buf bytes.Buffer
		if json.Indent(&buf, s.Definition, "", "  ") == nil {
			sv.Pretty = buf.String()
		} else {
			sv.Pretty = string(s.Definition)
		}
		var def struct {
			Attributes []struct {
				Name string `json:"name"`
			} `json:"attributes"`
		}
		json.Unmarshal(s.Definition, &def)
		for _, a := range def.Attributes {
			sv.Attributes = append(sv.Attributes, a.Name)
		}
		d.Schemas = append(d.Schemas, sv)
	}
	return d, nil
}

func (c *Console) schemas(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	d, err := c.schemasData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	if r.URL.Query().Get("done") == "registered" {
		v.Flash = "The schema extension was registered. The tenant's /Schemas and /ResourceTypes list it from the next request, and its attributes are validated from then on."
	}
	v.Title = "Schema extensions"
	v.Data = d
	return "schemas", nil
}

// exampleSchema is the placeholder of the register form: a complete, valid definition.
const exampleSchema = `{
  "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
  "name": "AcmeUser",
  "resourceType": "User",
  "attributes": [
    {"name": "costCenter", "type": "string"},
    {"name": "badgeNumber", "type": "string", "uniqueness": "server"}
  ]
}`

func (schemasData) Example() string { return exampleSchema }

func (c *Console) registerSchema(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	r.ParseForm()
	def := strings.TrimSpace(r.PostFormValue("definition"))
	var err error = scimtrail.Errorf(scimtrail.EINVALID, "Paste the schema's JSON definition: an RFC 7643 §7 schema with \"id\", \"resourceType\" (User or Group) and \"attributes\".")
	if def != "" {
		_, _, err = c.svc.RegisterSchema(r.Context(), c.origin(w, r, v.Session), v.TenantID, []byte(def))
	}
	if err == nil {
		http.Redirect(w, r, "/console/t/"+v.TenantID+"/schemas?done=registered", http.StatusSeeOther)
		return "", nil
	}
	if code := scimtrail.ErrorCode(err); code != scimtrail.EINVALID && code != scimtrail.ECONFLICT {
		return "", err
	}
	d, derr := c.schemasData(r, v.TenantID)
	if derr != nil {
		return "", derr
	}
	d.Error, d.Definition = scimtrail.ErrorMessage(err), def
	v.Title, v.Data, v.Status = "Schema extensions", d, http.StatusBadRequest
	return "schemas", nil
}
