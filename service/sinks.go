package service

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
)

// Sink types and formats that can be configured.
const (
	SinkWebhook   = "webhook"
	SinkSplunkHEC = "splunk_hec"
	SinkSyslog    = "syslog"
	SinkFile      = "file"
	SinkKafka     = "kafka"

	FormatNative  = "native"  // the ledger entry itself, with tenant, seq, leaf hash, checkpoint
	FormatOCSF    = "ocsf"    // OCSF 1.8.0 events (docs/ocsf.md)
	FormatSET     = "set"     // SCIM Security Event Tokens (RFC 9967)
	FormatRFC5424 = "rfc5424" // syslog: the native record as the message of an RFC 5424 line
	FormatCEF     = "cef"     // syslog: ArcSight Common Event Format (docs/sinks.md)
	FormatJSONL   = "jsonl"   // file: JSON Lines of native records
	FormatParquet = "parquet" // file: Parquet of OCSF events, Security Lake layout
)

// SinkRequest is a sink as an API client configures it (DESIGN.md §5 "Export sinks").
type SinkRequest struct {
	Type   string `json:"type"`
	URL    string `json:"url,omitempty"`
	Secret string `json:"secret,omitempty"`
	Format string `json:"format,omitempty"`
	// Token is a Splunk HEC token: sealed like a webhook secret, never shown again.
	Token string `json:"token,omitempty"`
	// Address (host:port) and TLS are a syslog sink's receiver.
	Address string   `json:"address,omitempty"`
	TLS     *SinkTLS `json:"tls,omitempty"`
	// Dir is a file sink's directory, relative to the operator's --sink-file-dir.
	Dir string `json:"dir,omitempty"`
	// Brokers (host:port, 1–16) and Topic are a Kafka sink's cluster and topic; TLS (as for
	// syslog) and SASL how it connects and authenticates. The SASL password is sealed like a
	// webhook secret, never shown again.
	Brokers []string  `json:"brokers,omitempty"`
	Topic   string    `json:"topic,omitempty"`
	SASL    *SinkSASL `json:"sasl,omitempty"`
	// FromSeq is the first seq to deliver in each tenant; nil delivers from the first entry.
	FromSeq *int64 `json:"from_seq,omitempty"`
}

// SinkTLS is how a sink verifies its receiver: the CA certificates to trust (PEM; empty
// trusts the system roots) and the name the certificate must carry (empty: the host of the
// address).
type SinkTLS struct {
	CAPEM      string `json:"ca_pem,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

// Kafka SASL mechanisms a sink may use.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SinkSASL is how a Kafka sink authenticates: a mechanism, a user name and its password.
type SinkSASL struct {
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password,omitempty"`
}

// SinkConfig is what is stored of a sink's settings: everything but its secrets.
type SinkConfig struct {
	URL     string   `json:"url,omitempty"`
	Address string   `json:"address,omitempty"`
	TLS     *SinkTLS `json:"tls,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	Brokers []string `json:"brokers,omitempty"`
	Topic   string   `json:"topic,omitempty"`
	// SASL is a Kafka sink's mechanism and user name; the password is in the sealed secret.
	SASL   *SinkSASL `json:"sasl,omitempty"`
	Format string    `json:"format,omitempty"`
}

// destination is where the sink delivers, for the ledger and the API.
func (c SinkConfig) destination() string {
	if c.Topic != "" {
		return c.Topic + " @ " + strings.Join(c.Brokers, ",")
	}
	if c.Address != "" {
		return c.Address
	}
	if c.Dir != "" {
		return c.Dir
	}
	return c.URL
}

// SinkStatus is a sink as the API shows it: its settings, never its secret, and how far it
// has delivered.
type SinkStatus struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"` // "" for an operator's sink of every tenant
	Type   string `json:"type"`
	SinkConfig
	FromSeq int64  `json:"from_seq"`
	State   string `json:"state"`
	// Cursor is the last acknowledged seq of a tenant's sink; nil for a sink of every
	// tenant, whose positions are in Cursors.
	Cursor    *int64           `json:"cursor"`
	Cursors   map[string]int64 `json:"cursors"`
	Lag       int64            `json:"lag"` // entries committed but not yet acknowledged
	LastError string           `json:"last_error"`
	Failures  int              `json:"failures"`
	Created   time.Time        `json:"created"`
	Updated   time.Time        `json:"updated"`
}

// CreatedSink is a new sink with its secret, shown once when scimtrail generated it.
type CreatedSink struct {
	SinkStatus
	Secret string `json:"secret,omitempty"`
}

// sinkLog is the log a sink's configuration changes are recorded in.
func sinkLog(tenant string) string {
	if tenant == "" {
		return scimtrail.SystemLog
	}
	return tenant
}

// CreateSink configures a sink of tenant ("" for every tenant, operator only) and records
// sink.created in the same transaction. Returns EINVALID for a bad type, URL, format,
// secret or from_seq, or an address on a private network without --allow-private-sinks.
func (s *Service) CreateSink(ctx context.Context, o Origin, tenant string, req SinkRequest) (CreatedSink, scimtrail.Receipt, error) {
	cfg, generated, err := s.checkSinkRequest(ctx, &req)
	if err != nil {
		return CreatedSink{}, scimtrail.Receipt{}, err
	}
	fromSeq := int64(1)
	if req.FromSeq != nil {
		if *req.FromSeq < 1 {
			return CreatedSink{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "from_seq must be at least 1, not %d", *req.FromSeq)
		}
		fromSeq = *req.FromSeq
	}
	id := newID()
	var sealed []byte
	password := ""
	if req.SASL != nil {
		password = req.SASL.Password
	}
	if secret := cmp.Or(req.Secret, req.Token, password); secret != "" {
		if sealed, err = sealSecrets(s.sinkOpts.Key, id, []SinkSecret{{Value: secret}}); err != nil {
			return CreatedSink{}, scimtrail.Receipt{}, err
		}
	}
	config, _ := json.Marshal(cfg)
	var sink scimtrail.Sink
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, sinkLog(tenant), func(tx scimtrail.Tx) error {
		if tenant != "" {
			if err := tenantExists(ctx, tx, tenant); err != nil {
				return err
			}
		}
		at := s.stamp()
		sink = scimtrail.Sink{ID: id, Tenant: tenant, Type: req.Type, Config: config, Secret: sealed,
			FromSeq: fromSeq, State: scimtrail.SinkActive, Created: at, Updated: at}
		if err := tx.InsertSink(ctx, sink); err != nil {
			return err
		}
		changes := []scimtrail.Change{{Path: "type", New: req.Type}}
		if cfg.URL != "" {
			changes = append(changes, scimtrail.Change{Path: "url", New: cfg.URL})
		}
		if cfg.Address != "" {
			changes = append(changes, scimtrail.Change{Path: "address", New: cfg.Address})
		}
		if cfg.Topic != "" {
			changes = append(changes, scimtrail.Change{Path: "brokers", New: cfg.Brokers}, scimtrail.Change{Path: "topic", New: cfg.Topic})
		}
		if cfg.TLS != nil {
			changes = append(changes, scimtrail.Change{Path: "tls.server_name", New: cfg.TLS.ServerName})
		}
		if cfg.SASL != nil {
			changes = append(changes, scimtrail.Change{Path: "sasl.mechanism", New: cfg.SASL.Mechanism}, scimtrail.Change{Path: "sasl.username", New: cfg.SASL.Username})
		}
		changes = append(changes, scimtrail.Change{Path: "format", New: cfg.Format}, scimtrail.Change{Path: "from_seq", New: fromSeq})
		var err error
		rc, err = appendEntries(ctx, tx, sinkLog(tenant), o, at, scimtrail.Entry{
			Action: "sink.created", Target: sinkTarget(sink, cfg), Changes: changes,
		})
		return err
	})
	if err != nil {
		return CreatedSink{}, rc, err
	}
	st, err := s.SinkStatus(ctx, tenant, id)
	out := CreatedSink{SinkStatus: st}
	if generated {
		out.Secret = req.Secret
	}
	return out, rc, err
}

func sinkTarget(sink scimtrail.Sink, cfg SinkConfig) *scimtrail.Target {
	return &scimtrail.Target{Type: "Sink", ID: sink.ID, Display: sink.Type + " " + cfg.destination()}
}

// checkSinkRequest validates req, fills defaults (format, a generated secret) and returns the
// settings to store and whether the secret was generated.
func (s *Service) checkSinkRequest(ctx context.Context, req *SinkRequest) (SinkConfig, bool, error) {
	formats := map[string][]string{
		SinkWebhook:   {FormatNative, FormatOCSF, FormatSET},
		SinkSplunkHEC: {FormatNative, FormatOCSF},
		SinkSyslog:    {FormatRFC5424, FormatCEF},
		SinkFile:      {FormatJSONL, FormatParquet},
		SinkKafka:     {FormatNative, FormatOCSF},
	}
	switch req.Type {
	case SinkWebhook, SinkSplunkHEC, SinkSyslog, SinkFile, SinkKafka:
	case "":
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "type is required: one of %q", sinkTypes)
	default:
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "unknown sink type %q: use one of %q", req.Type, sinkTypes)
	}
	allowed := formats[req.Type]
	if req.Format == "" {
		req.Format = allowed[0]
	} else if !slices.Contains(allowed, req.Format) {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "format of a %s sink must be one of %q, not %q", req.Type, allowed, req.Format)
	}
	if req.Type != SinkWebhook && req.Secret != "" {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "secret is for webhook sinks; a %s sink has none", req.Type)
	}
	if req.Type != SinkSplunkHEC && req.Token != "" {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "token is for splunk_hec sinks")
	}
	if req.Type != SinkSyslog && req.Address != "" {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "address is for syslog sinks; a %s sink has a url", req.Type)
	}
	if req.Type != SinkSyslog && req.Type != SinkKafka && req.TLS != nil {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "tls is for syslog and kafka sinks; a %s sink takes an https:// url", req.Type)
	}
	if req.Type != SinkKafka && req.SASL != nil {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "sasl is for kafka sinks")
	}
	if err := checkSinkTLS(req.TLS); err != nil {
		return SinkConfig{}, false, err
	}
	if req.Type != SinkFile && req.Dir != "" {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "dir is for file sinks")
	}
	if req.Type != SinkKafka && (req.Brokers != nil || req.Topic != "") {
		return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "brokers and topic are for kafka sinks")
	}
	switch req.Type {
	case SinkKafka:
		if req.URL != "" {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "a kafka sink has brokers (host:port) and a topic, not a url")
		}
		if len(req.Brokers) == 0 || len(req.Brokers) > maxKafkaBrokers {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "brokers must list 1 to %d bootstrap brokers as host:port, not %d", maxKafkaBrokers, len(req.Brokers))
		}
		for _, b := range req.Brokers {
			if err := s.checkSinkAddress(ctx, b); err != nil {
				return SinkConfig{}, false, err
			}
		}
		if err := checkKafkaTopic(req.Topic); err != nil {
			return SinkConfig{}, false, err
		}
		cfg := SinkConfig{Brokers: req.Brokers, Topic: req.Topic, TLS: req.TLS, Format: req.Format}
		if req.SASL != nil {
			if err := checkSASL(*req.SASL, req.TLS != nil); err != nil {
				return SinkConfig{}, false, err
			}
			cfg.SASL = &SinkSASL{Mechanism: req.SASL.Mechanism, Username: req.SASL.Username}
		}
		return cfg, false, nil
	case SinkFile:
		if req.URL != "" {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "a file sink has a dir, not a url")
		}
		if s.sinkOpts.FileDir == "" {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "this server allows no file sinks; the operator enables them with --sink-file-dir")
		}
		clean := filepath.ToSlash(filepath.Clean(req.Dir))
		if req.Dir == "" || !filepath.IsLocal(req.Dir) || strings.HasPrefix(clean, ".") {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "dir %q must be a relative path inside the server's sink file directory, without ..", req.Dir)
		}
		return SinkConfig{Dir: clean, Format: req.Format}, false, nil
	case SinkSplunkHEC:
		if err := s.checkSinkURL(ctx, req.URL); err != nil {
			return SinkConfig{}, false, err
		}
		if err := checkHECToken(req.Token); err != nil {
			return SinkConfig{}, false, err
		}
		return SinkConfig{URL: req.URL, Format: req.Format}, false, nil
	case SinkSyslog:
		if req.URL != "" {
			return SinkConfig{}, false, scimtrail.Errorf(scimtrail.EINVALID, "a syslog sink has an address (host:port), not a url")
		}
		if err := s.checkSinkAddress(ctx, req.Address); err != nil {
			return SinkConfig{}, false, err
		}
		return SinkConfig{Address: req.Address, TLS: req.TLS, Format: req.Format}, false, nil
	}
	if err := s.checkSinkURL(ctx, req.URL); err != nil {
		return SinkConfig{}, false, err
	}
	generated := false
	if req.Secret == "" {
		req.Secret, generated = newWebhookSecret(), true
	} else if err := parseWebhookSecret(req.Secret); err != nil {
		return SinkConfig{}, false, err
	}
	return SinkConfig{URL: req.URL, Format: req.Format}, generated, nil
}

var sinkTypes = []string{SinkWebhook, SinkSplunkHEC, SinkSyslog, SinkFile, SinkKafka}

// maxKafkaBrokers bounds a Kafka sink's bootstrap list; the cluster advertises the rest.
const maxKafkaBrokers = 16

// checkKafkaTopic applies Kafka's rules for topic names: 1 to 249 of [a-zA-Z0-9._-], and
// neither "." nor "..".
func checkKafkaTopic(topic string) error {
	if topic == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "topic is required")
	}
	if len(topic) > 249 {
		return scimtrail.Errorf(scimtrail.EINVALID, "topic is longer than 249 characters")
	}
	if topic == "." || topic == ".." {
		return scimtrail.Errorf(scimtrail.EINVALID, "topic cannot be %q", topic)
	}
	for _, r := range topic {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return scimtrail.Errorf(scimtrail.EINVALID, "topic %q may hold only ASCII letters, digits, '.', '_' and '-'", topic)
		}
	}
	return nil
}

// checkSinkTLS refuses a tls.ca_pem without a certificate.
func checkSinkTLS(t *SinkTLS) error {
	if t != nil && t.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CAPEM)) {
		return scimtrail.Errorf(scimtrail.EINVALID, "tls.ca_pem holds no PEM certificate")
	}
	return nil
}

// checkSASL accepts the mechanisms Kafka brokers offer for passwords, and only over TLS:
// PLAIN sends the password as it is, and SCRAM leaves the records themselves in clear.
func checkSASL(a SinkSASL, withTLS bool) error {
	switch a.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return scimtrail.Errorf(scimtrail.EINVALID, "sasl.mechanism must be one of %q, not %q",
			[]string{SASLPlain, SASLScramSHA256, SASLScramSHA512}, a.Mechanism)
	}
	if a.Username == "" || a.Password == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "sasl needs a username and a password")
	}
	if len(a.Username) > 256 || len(a.Password) > 1024 {
		return scimtrail.Errorf(scimtrail.EINVALID, "sasl username or password is too long")
	}
	if !withTLS {
		return scimtrail.Errorf(scimtrail.EINVALID, "sasl needs tls: without it the password or the records cross the network in clear; give \"tls\":{} to trust the system roots")
	}
	return nil
}

// checkHECToken accepts what Splunk issues (a GUID) and anything token-like, but nothing
// that could smuggle a header: printable ASCII without spaces.
func checkHECToken(tok string) error {
	if tok == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "token is required: the HEC token Splunk issued")
	}
	if len(tok) > 256 {
		return scimtrail.Errorf(scimtrail.EINVALID, "token is longer than 256 characters")
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return scimtrail.Errorf(scimtrail.EINVALID, "token must be printable ASCII without spaces")
		}
	}
	return nil
}

// checkSinkAddress refuses anything but host:port, and — unless private sinks are allowed —
// hosts that resolve to a non-public address.
func (s *Service) checkSinkAddress(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "address %q must be host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return scimtrail.Errorf(scimtrail.EINVALID, "address %q has no valid port", addr)
	}
	if s.sinkOpts.AllowPrivate {
		return nil
	}
	return checkPublicHost(ctx, host)
}

// checkSinkURL refuses URLs that are not absolute http(s) URLs, and — unless private sinks
// are allowed — plain http and hosts that resolve to any non-public address. The dispatcher
// checks again when it connects, since DNS can change between the two.
func (s *Service) checkSinkURL(ctx context.Context, raw string) error {
	if raw == "" {
		return scimtrail.Errorf(scimtrail.EINVALID, "url is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return scimtrail.Errorf(scimtrail.EINVALID, "url %q must be an absolute https:// URL without credentials", raw)
	}
	if s.sinkOpts.AllowPrivate {
		return nil
	}
	if u.Scheme != "https" {
		return scimtrail.Errorf(scimtrail.EINVALID, "url %q must use https", raw)
	}
	return checkPublicHost(ctx, u.Hostname())
}

// checkPublicHost resolves host and refuses it when any of its addresses is not public.
func checkPublicHost(ctx context.Context, host string) error {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return scimtrail.Errorf(scimtrail.EINVALID, "the host %q of the sink does not resolve", host)
		}
		addrs = ips
	}
	for _, a := range addrs {
		if !IsPublicAddr(a) {
			return scimtrail.Errorf(scimtrail.EINVALID,
				"the sink host %q is on a loopback, private or link-local network (%s); such sinks are refused unless the server runs with --allow-private-sinks", host, a)
		}
	}
	return nil
}

// sinkOf loads a sink as seen from tenant: a tenant sees only its own sinks, the operator's
// routes ("" tenant) only the sinks of every tenant.
func sinkOf(ctx context.Context, tx scimtrail.ReadTx, tenant, id string) (scimtrail.Sink, error) {
	sink, err := tx.Sink(ctx, id)
	if isNotFound(err) || (err == nil && sink.Tenant != tenant) {
		return scimtrail.Sink{}, notFound("sink", id)
	}
	return sink, err
}

// SinkStatus returns a sink of tenant with its cursor and lag; ENOTFOUND when tenant has no
// such sink.
func (s *Service) SinkStatus(ctx context.Context, tenant, id string) (SinkStatus, error) {
	var st SinkStatus
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		sink, err := sinkOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		st, err = sinkStatus(ctx, tx, sink)
		return err
	})
	return st, err
}

// Sinks lists the sinks of tenant ("" for the sinks of every tenant), oldest first.
func (s *Service) Sinks(ctx context.Context, tenant string) ([]SinkStatus, error) {
	out := []SinkStatus{}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		sinks, err := tx.Sinks(ctx, tenant)
		if err != nil {
			return err
		}
		for _, sink := range sinks {
			st, err := sinkStatus(ctx, tx, sink)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// SinkTenants lists the tenants a sink exports: its own, or every tenant.
func SinkTenants(ctx context.Context, tx scimtrail.ReadTx, sink scimtrail.Sink) ([]string, error) {
	if sink.Tenant != "" {
		return []string{sink.Tenant}, nil
	}
	ts, err := tx.Tenants(ctx)
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids, err
}

func sinkStatus(ctx context.Context, tx scimtrail.ReadTx, sink scimtrail.Sink) (SinkStatus, error) {
	st := SinkStatus{ID: sink.ID, Tenant: sink.Tenant, Type: sink.Type, FromSeq: sink.FromSeq, State: sink.State,
		LastError: sink.LastError, Failures: sink.Failures, Created: sink.Created, Updated: sink.Updated,
		Cursors: map[string]int64{}}
	json.Unmarshal(sink.Config, &st.SinkConfig)
	cursors, err := tx.SinkCursors(ctx, sink.ID)
	if err != nil {
		return st, err
	}
	tenants, err := SinkTenants(ctx, tx, sink)
	if err != nil {
		return st, err
	}
	for _, t := range tenants {
		st.Cursors[t] = sink.FromSeq - 1
	}
	for _, c := range cursors {
		st.Cursors[c.Tenant] = max(c.LastSeq, sink.FromSeq-1)
	}
	for _, t := range tenants {
		head, err := tx.LedgerHead(ctx, t)
		if err != nil {
			return st, err
		}
		st.Lag += max(0, head.Size-st.Cursors[t])
	}
	if sink.Tenant != "" {
		c := st.Cursors[sink.Tenant]
		st.Cursor = &c
	}
	return st, nil
}

// DeleteSink removes a sink of tenant and its cursors, and records sink.deleted.
func (s *Service) DeleteSink(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, sinkLog(tenant), func(tx scimtrail.Tx) error {
		sink, err := sinkOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteSink(ctx, id); err != nil {
			return err
		}
		var cfg SinkConfig
		json.Unmarshal(sink.Config, &cfg)
		rc, err = appendEntries(ctx, tx, sinkLog(tenant), o, s.stamp(), scimtrail.Entry{
			Action: "sink.deleted", Target: sinkTarget(sink, cfg),
		})
		return err
	})
	return rc, err
}

// RotateSinkSecret gives a webhook sink a new signing secret (generated when secret is "")
// and records sink.updated. The old secret keeps signing alongside the new one for overlap,
// so receivers can switch without rejecting a delivery.
func (s *Service) RotateSinkSecret(ctx context.Context, o Origin, tenant, id, secret string, overlap time.Duration) (CreatedSink, scimtrail.Receipt, error) {
	generated := false
	if secret == "" {
		secret, generated = newWebhookSecret(), true
	} else if err := parseWebhookSecret(secret); err != nil {
		return CreatedSink{}, scimtrail.Receipt{}, err
	}
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, sinkLog(tenant), func(tx scimtrail.Tx) error {
		sink, err := sinkOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if sink.Type != SinkWebhook {
			return scimtrail.Errorf(scimtrail.EINVALID, "only webhook sinks have signing secrets to rotate; delete and recreate a %s sink to change it", sink.Type)
		}
		old, err := openSecrets(s.sinkOpts.Key, id, sink.Secret)
		if err != nil {
			return err
		}
		at := s.stamp()
		next := []SinkSecret{{Value: secret}}
		for _, o := range old {
			if o.Until.IsZero() {
				o.Until = at.Add(overlap)
			}
			if o.Until.After(at) && o.Value != secret {
				next = append(next, o)
			}
		}
		if sink.Secret, err = sealSecrets(s.sinkOpts.Key, id, next); err != nil {
			return err
		}
		sink.Updated = at
		if err := tx.UpdateSink(ctx, sink); err != nil {
			return err
		}
		var cfg SinkConfig
		json.Unmarshal(sink.Config, &cfg)
		rc, err = appendEntries(ctx, tx, sinkLog(tenant), o, at, scimtrail.Entry{
			Action: "sink.updated", Target: sinkTarget(sink, cfg),
			Changes: []scimtrail.Change{{Path: "secret"}},
		})
		return err
	})
	if err != nil {
		return CreatedSink{}, rc, err
	}
	st, err := s.SinkStatus(ctx, tenant, id)
	out := CreatedSink{SinkStatus: st}
	if generated {
		out.Secret = secret
	}
	return out, rc, err
}

// RetrySink makes a dead sink active again from its cursor, with its failure count reset,
// and records sink.retried. Retrying an active sink only resets its failure count.
func (s *Service) RetrySink(ctx context.Context, o Origin, tenant, id string) (SinkStatus, scimtrail.Receipt, error) {
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, sinkLog(tenant), func(tx scimtrail.Tx) error {
		sink, err := sinkOf(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		at := s.stamp()
		prev := sink.State
		sink.State, sink.Failures, sink.Updated = scimtrail.SinkActive, 0, at
		if err := tx.SetSinkState(ctx, sink); err != nil {
			return err
		}
		var cfg SinkConfig
		json.Unmarshal(sink.Config, &cfg)
		rc, err = appendEntries(ctx, tx, sinkLog(tenant), o, at, scimtrail.Entry{
			Action: "sink.retried", Target: sinkTarget(sink, cfg),
			Changes: []scimtrail.Change{{Path: "state", Old: prev, New: scimtrail.SinkActive}},
		})
		return err
	})
	if err != nil {
		return SinkStatus{}, rc, err
	}
	s.commits.notify()
	st, err := s.SinkStatus(ctx, tenant, id)
	return st, rc, err
}

// Delivery is what the dispatcher needs of a sink: its row and its opened secrets.
type Delivery struct {
	Sink    scimtrail.Sink
	Config  SinkConfig
	Secrets []SinkSecret // current first; expired rotation secrets left out
}

// SinkDelivery loads a sink for delivery; ENOTFOUND when it was deleted.
func (s *Service) SinkDelivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		d.Sink, err = tx.Sink(ctx, id)
		return err
	})
	if err != nil {
		return d, err
	}
	json.Unmarshal(d.Sink.Config, &d.Config)
	all, err := openSecrets(s.sinkOpts.Key, id, d.Sink.Secret)
	now := s.now()
	for _, sec := range all {
		if sec.Until.IsZero() || sec.Until.After(now) {
			d.Secrets = append(d.Secrets, sec)
		}
	}
	return d, err
}

// SinkIDs lists the ids of every sink, for the dispatcher.
func (s *Service) SinkIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		sinks, err := tx.AllSinks(ctx)
		for _, sink := range sinks {
			ids = append(ids, sink.ID)
		}
		return err
	})
	return ids, err
}

// SinkPosition is how far a sink has delivered one tenant's log, and how far there is to go.
type SinkPosition struct {
	Cursor     int64 // the last acknowledged seq
	Checkpoint int64 // the size of the last acknowledged checkpoint record
	Head       int64 // the tenant's last seq
	// LatestCheckpoint is the size of the tenant's latest signed checkpoint (0: none yet).
	LatestCheckpoint int64
}

// Pending reports whether entries or checkpoint records wait for delivery.
func (p SinkPosition) Pending() bool { return p.Cursor < p.Head || p.Checkpoint < p.LatestCheckpoint }

// SinkPositions returns, per tenant the sink exports, its position. A sink that starts at
// from_seq delivers the checkpoints of sizes from from_seq on: smaller ones cover no entry
// it delivers.
func (s *Service) SinkPositions(ctx context.Context, sink scimtrail.Sink) (map[string]SinkPosition, error) {
	out := map[string]SinkPosition{}
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		tenants, err := SinkTenants(ctx, tx, sink)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			out[t] = SinkPosition{Cursor: sink.FromSeq - 1, Checkpoint: sink.FromSeq - 1}
		}
		cursors, err := tx.SinkCursors(ctx, sink.ID)
		if err != nil {
			return err
		}
		for _, c := range cursors {
			if _, ok := out[c.Tenant]; ok {
				out[c.Tenant] = SinkPosition{Cursor: max(c.LastSeq, sink.FromSeq-1), Checkpoint: max(c.Checkpoint, sink.FromSeq-1)}
			}
		}
		for t, p := range out {
			head, err := tx.LedgerHead(ctx, t)
			if err != nil {
				return err
			}
			p.Head = head.Size
			cp, err := tx.LatestCheckpoint(ctx, t)
			if err != nil && !isNotFound(err) {
				return err
			}
			p.LatestCheckpoint = cp.Size
			out[t] = p
		}
		return nil
	})
	return out, err
}

// SinkCheckpoints returns up to limit of the tenant's checkpoints with after < size <=
// upTo, smallest first: the checkpoint records a sink delivers next.
func (s *Service) SinkCheckpoints(ctx context.Context, tenant string, after, upTo int64, limit int) ([]scimtrail.StoredCheckpoint, error) {
	var cps []scimtrail.StoredCheckpoint
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		cps, err = tx.CheckpointsBetween(ctx, tenant, after, upTo, limit)
		return err
	})
	return cps, err
}

// AdvanceSinkCursor records that the receiver acknowledged every entry of tenant up to seq
// and every checkpoint record up to size checkpoint, and clears the sink's failures. It is
// no ledger entry: delivery is not a change of state.
func (s *Service) AdvanceSinkCursor(ctx context.Context, sink scimtrail.Sink, tenant string, seq, checkpoint int64) error {
	return s.store.Update(ctx, sinkLog(sink.Tenant), func(tx scimtrail.Tx) error {
		if err := tx.SetSinkCursor(ctx, scimtrail.SinkCursor{Sink: sink.ID, Tenant: tenant, LastSeq: seq, Checkpoint: checkpoint}); err != nil {
			return err
		}
		cur, err := tx.Sink(ctx, sink.ID)
		if err != nil {
			return err
		}
		if cur.Failures == 0 && cur.LastError == "" {
			return nil
		}
		cur.Failures, cur.LastError, cur.Updated = 0, "", s.stamp()
		return tx.SetSinkState(ctx, cur)
	})
}

// AcquireSinkLease takes or renews the delivery lease of sink for holder (a dispatcher of
// one replica) for ttl and reports whether holder has it, so that of several replicas on
// one database one delivers each sink. It is no ledger entry.
func (s *Service) AcquireSinkLease(ctx context.Context, sink scimtrail.Sink, holder string, ttl time.Duration) (bool, error) {
	var ok bool
	err := s.store.Update(ctx, sinkLog(sink.Tenant), func(tx scimtrail.Tx) error {
		var err error
		ok, err = tx.AcquireSinkLease(ctx, sink.ID, holder, s.now(), ttl)
		return err
	})
	return ok, err
}

// ReleaseSinkLease gives up holder's lease of sink, if it holds it, so that another replica
// takes the sink over at once.
func (s *Service) ReleaseSinkLease(ctx context.Context, sink scimtrail.Sink, holder string) error {
	return s.store.Update(ctx, sinkLog(sink.Tenant), func(tx scimtrail.Tx) error {
		return tx.ReleaseSinkLease(ctx, sink.ID, holder)
	})
}

// SinkLease returns the holder of a sink's delivery lease and its expiry; ENOTFOUND when
// no one holds it.
func (s *Service) SinkLease(ctx context.Context, id string) (string, time.Time, error) {
	var holder string
	var expires time.Time
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		holder, expires, err = tx.SinkLease(ctx, id)
		return err
	})
	return holder, expires, err
}

// RecordSinkFailure counts a failed delivery; after maxFailures consecutive ones the sink
// becomes dead. It returns the sink's state afterwards.
func (s *Service) RecordSinkFailure(ctx context.Context, sink scimtrail.Sink, cause string, maxFailures int) (scimtrail.Sink, error) {
	var cur scimtrail.Sink
	err := s.store.Update(ctx, sinkLog(sink.Tenant), func(tx scimtrail.Tx) error {
		var err error
		if cur, err = tx.Sink(ctx, sink.ID); err != nil {
			return err
		}
		cur.Failures++
		cur.LastError = truncate(cause, 500)
		cur.Updated = s.stamp()
		if maxFailures > 0 && cur.Failures >= maxFailures {
			cur.State = scimtrail.SinkDead
		}
		return tx.SetSinkState(ctx, cur)
	})
	return cur, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Commits returns a channel that is closed at the next commit through this service, so that
// the dispatcher and long polls wake promptly. Commits made by other replicas do not close
// it; waiters also poll.
func (s *Service) Commits() <-chan struct{} { return s.commits.wait() }

// commitSignal is a broadcast: every commit closes the current channel and starts a new one.
type commitSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newCommitSignal() *commitSignal { return &commitSignal{ch: make(chan struct{})} }

func (c *commitSignal) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func (c *commitSignal) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.ch)
	c.ch = make(chan struct{})
}

// notifyingStore signals commits after each successful Update.
type notifyingStore struct {
	scimtrail.Store
	signal *commitSignal
}

func (n notifyingStore) Update(ctx context.Context, tenant string, fn func(scimtrail.Tx) error) error {
	err := n.Store.Update(ctx, tenant, fn)
	if err == nil {
		n.signal.notify()
	}
	return err
}
