package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// exportsData is the Exports page: the tenant's sinks and, once, a secret just generated.
type exportsData struct {
	Sinks         []sinkView
	Formats       []choice // webhook
	SyslogFormats []choice
	FileFormats   []choice
	KafkaFormats  []choice
	Created       *service.CreatedSink // set on the response that generated a secret
	Rotated       bool                 // Created holds a rotated secret rather than a new sink's
	Error         string
	Form          map[string]string
}

// choice is one option of a select.
type choice struct{ Value, Label string }

// sinkFormats are the record formats a webhook sink can deliver, in words.
var sinkFormats = []choice{
	{service.FormatNative, "Native (ledger entry with its proof data)"},
	{service.FormatOCSF, "OCSF (for SIEMs such as Splunk, Sentinel, Chronicle)"},
	{service.FormatSET, "SCIM Security Event Tokens (RFC 9967)"},
}

// syslogFormats and fileFormats are the formats of the other sink types.
var (
	syslogFormats = []choice{{service.FormatRFC5424, "RFC 5424 (native record as the message)"}, {service.FormatCEF, "CEF (ArcSight Common Event Format)"}}
	fileFormats   = []choice{{service.FormatJSONL, "JSON Lines (native records)"}, {service.FormatParquet, "Parquet (OCSF, Security Lake layout)"}}
	kafkaFormats  = []choice{{service.FormatNative, "Native (ledger entry with its proof data)"}, {service.FormatOCSF, "OCSF"}}
)

// sinkView is a sink as a row of the page.
type sinkView struct {
	service.SinkStatus
}

// Dead reports whether the sink stopped after too many failed deliveries.
func (s sinkView) Dead() bool { return s.State == scimtrail.SinkDead }

// Destination is where the sink delivers, in one line.
func (s sinkView) Destination() string {
	switch {
	case s.Topic != "":
		return s.Topic + " @ " + strings.Join(s.Brokers, ",")
	case s.Address != "":
		return s.Address
	case s.Dir != "":
		return s.Dir
	}
	return s.URL
}

// TypeLabel is the sink's type in words.
func (s sinkView) TypeLabel() string {
	switch s.Type {
	case service.SinkSplunkHEC:
		return "Splunk HEC"
	case service.SinkSyslog:
		return "syslog (TLS)"
	case service.SinkFile:
		return "file"
	case service.SinkKafka:
		return "Kafka"
	}
	return s.Type
}

// CursorText is how far the sink has delivered.
func (s sinkView) CursorText() string {
	if s.Cursor == nil {
		return "—"
	}
	if *s.Cursor == 0 {
		return "nothing yet"
	}
	return "entry " + strconv.FormatInt(*s.Cursor, 10)
}

// StateText is the sink's state in words.
func (s sinkView) StateText() string {
	switch s.State {
	case scimtrail.SinkActive:
		if s.Failures > 0 {
			return "retrying (" + plural(s.Failures, "failed attempt") + ")"
		}
		if s.Lag == 0 {
			return "up to date"
		}
		return "delivering"
	case scimtrail.SinkDead:
		return "stopped after repeated failures"
	}
	return s.State
}

func (c *Console) exportsData(r *http.Request, tenant string) (*exportsData, error) {
	sinks, err := c.svc.Sinks(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	d := &exportsData{Formats: sinkFormats, SyslogFormats: syslogFormats, FileFormats: fileFormats, KafkaFormats: kafkaFormats, Form: map[string]string{}}
	for _, s := range sinks {
		d.Sinks = append(d.Sinks, sinkView{s})
	}
	return d, nil
}

// exportsPage renders the Exports page with d.
func (c *Console) exportsPage(v *view, d *exportsData) string {
	v.Title = "Exports"
	v.Data = d
	return "exports"
}

// exports lists the tenant's sinks. Sinks are managed by admins: their settings reveal
// where the tenant's log goes, which the API keeps from auditors too.
func (c *Console) exports(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	if !v.CanChange {
		v.Title = "Exports"
		v.Data = (*exportsData)(nil)
		return "exports", nil
	}
	d, err := c.exportsData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	switch r.URL.Query().Get("done") {
	case "retried":
		v.Flash = "The sink is active again and delivers from where it stopped."
	case "deleted":
		v.Flash = "The sink was deleted. Nothing more is sent to it."
	}
	return c.exportsPage(v, d), nil
}

// sinkFormFields are the form fields each sink type's form sends.
var sinkFormFields = []string{"type", "url", "format", "token", "address", "ca_pem", "server_name", "dir", "brokers", "topic"}

func (c *Console) createSink(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	form := map[string]string{}
	for _, k := range sinkFormFields {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	req := service.SinkRequest{Type: form["type"], URL: form["url"], Format: form["format"], Token: form["token"],
		Address: form["address"], Dir: form["dir"]}
	if req.Type == "" {
		req.Type = service.SinkWebhook
	}
	if req.Type == service.SinkKafka {
		// Brokers are typed as a list separated by commas, spaces or new lines.
		req.Brokers = strings.FieldsFunc(form["brokers"], func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		req.Topic = form["topic"]
	}
	if req.Type == service.SinkSyslog && (form["ca_pem"] != "" || form["server_name"] != "") {
		req.TLS = &service.SinkTLS{CAPEM: form["ca_pem"], ServerName: form["server_name"]}
	}
	created, _, err := c.svc.CreateSink(r.Context(), c.origin(w, r, v.Session), v.TenantID, req)
	d, derr := c.exportsData(r, v.TenantID)
	if derr != nil {
		return "", derr
	}
	if err != nil {
		switch scimtrail.ErrorCode(err) {
		case scimtrail.EINVALID, scimtrail.ECONFLICT, scimtrail.ENOTIMPLEMENTED:
			d.Error = sinkError(err)
			delete(form, "token") // a secret typed is not sent back
			d.Form = form
			v.Status = http.StatusBadRequest
			return c.exportsPage(v, d), nil
		}
		return "", err
	}
	if created.Secret != "" {
		d.Created = &created
	}
	v.Flash = "The " + sinkView{created.SinkStatus}.TypeLabel() + " sink was created. It delivers every entry of the log, oldest first, starting now."
	return c.exportsPage(v, d), nil
}

// sinkError says why a sink was refused, with the fix.
func sinkError(err error) string {
	msg := scimtrail.ErrorMessage(err)
	if strings.Contains(msg, "--allow-private-sinks") {
		return "That address is on a private or loopback network, which scimtrail does not send to: it could reach services inside our network. Use your receiver's public https:// address."
	}
	if strings.HasPrefix(msg, "url is required") {
		return "Type the https:// address of the receiver that should get the events."
	}
	if strings.HasPrefix(msg, "address is required") || strings.HasPrefix(msg, "dir is required") || strings.HasPrefix(msg, "brokers must list") {
		return "The sink was not created: " + msg + ". Fill in where the events should go."
	}
	return "The sink was not created: " + msg + "."
}

// sinkRotateOverlap is how long a rotated webhook secret keeps signing beside the new one.
const sinkRotateOverlap = 24 * time.Hour

func (c *Console) rotateSink(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	rotated, _, err := c.svc.RotateSinkSecret(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id"), "", sinkRotateOverlap)
	if err != nil {
		return "", err
	}
	d, err := c.exportsData(r, v.TenantID)
	if err != nil {
		return "", err
	}
	d.Created, d.Rotated = &rotated, true
	v.Flash = "The sink's signing secret was replaced. For the next 24 hours deliveries are signed with both the old and the new secret, so update your receiver now."
	return c.exportsPage(v, d), nil
}

func (c *Console) retrySink(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	if _, _, err := c.svc.RetrySink(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id")); err != nil {
		return "", err
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/exports?done=retried", http.StatusSeeOther)
	return "", nil
}

func (c *Console) deleteSink(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	if _, err := c.svc.DeleteSink(r.Context(), c.origin(w, r, v.Session), v.TenantID, r.PathValue("id")); err != nil {
		return "", err
	}
	http.Redirect(w, r, "/console/t/"+v.TenantID+"/exports?done=deleted", http.StatusSeeOther)
	return "", nil
}
