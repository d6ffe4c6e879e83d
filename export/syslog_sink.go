package export

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/scimtrail/scimtrail/export/syslog"
	"github.com/scimtrail/scimtrail/service"
)

// syslogAckTimeout bounds how long a syslog receiver may take to close the connection after
// our close_notify, which is how a batch is acknowledged (see deliverSyslog).
const syslogAckTimeout = 15 * time.Second

// SyslogMessage formats one record as an RFC 5424 message: facility log audit, the action
// as MSGID, tenant, seq and leaf hash as structured data, and as MSG either the native
// record (JSON, marked UTF-8) or its CEF line, which then carries the checkpoint as one
// more SD-PARAM since CEF has no field for it.
func SyslogMessage(r Record, format, hostname string) ([]byte, error) {
	m := syslog.Message{Facility: syslog.FacilityLogAudit, Severity: syslog.SeverityInfo,
		Hostname: hostname, AppName: "scimtrail", MsgID: r.action,
		Params: [][2]string{{"tenant", r.Tenant}, {"seq", fmt.Sprint(r.Seq)}, {"leaf_hash", r.LeafHash}}}
	if r.IsCheckpoint() {
		m.Params = [][2]string{{"tenant", r.Tenant}, {"size", fmt.Sprint(r.Size())}}
	}
	if t := r.Time(); !t.IsZero() {
		m.Time = t
	}
	if format == service.FormatCEF {
		var line string
		if r.IsCheckpoint() {
			line = syslog.CheckpointCEF(r.Tenant, r.Size(), r.rootHex(), string(r.cp.Note), r.at)
		} else {
			var err error
			if line, err = syslog.CEF(r.Entry, r.Tenant, r.Seq, r.LeafHash); err != nil {
				return nil, err
			}
		}
		var cp bytes.Buffer
		if len(r.Checkpoint) > 0 && json.Compact(&cp, r.Checkpoint) == nil && cp.String() != "null" {
			m.Params = append(m.Params, [2]string{"checkpoint", cp.String()})
		}
		m.Msg = []byte(line)
	} else {
		body, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		m.Msg, m.BOM = body, true
	}
	return m.Append(nil), nil
}

var hostname = localHostname()

// localHostname is the HOSTNAME of syslog messages.
func localHostname() string {
	h, _ := os.Hostname()
	return h
}

// deliverSyslog sends recs over one TLS connection (TLS 1.2 or later) with RFC 5425
// framing. Syslog has no acknowledgements, and a write that returned is only in our kernel's
// buffer, so the batch ends with a TLS close_notify and counts as delivered only when the
// receiver closes its side in turn: a receiver reads to the end before it sees our
// close_notify, so by then it has every frame. A receiver killed mid-batch never closes
// cleanly; the batch is then sent again from the cursor (at least once; duplicates carry
// the same seq).
func (d *Dispatcher) deliverSyslog(ctx context.Context, del Delivery, recs []Record) (int, error) {
	var buf []byte
	for _, r := range recs {
		msg, err := SyslogMessage(r, del.Config.Format, hostname)
		if err != nil {
			return 0, err
		}
		buf = syslog.AppendFrame(buf, msg)
	}
	cfg, err := syslogTLS(del.Config)
	if err != nil {
		return 0, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !d.opts.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !service.IsPublicAddr(ap.Addr()) {
				return fmt.Errorf("sink address %s is not public; refused (--allow-private-sinks)", address)
			}
			return nil
		}
	}
	td := &tls.Dialer{NetDialer: dialer, Config: cfg}
	raw, err := td.DialContext(ctx, "tcp", del.Config.Address)
	if err != nil {
		return 0, fmt.Errorf("syslog %s: %w", del.Config.Address, err)
	}
	conn := raw.(*tls.Conn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetDeadline(time.Now().Add(syslogAckTimeout))
	if _, err := conn.Write(buf); err != nil {
		return 0, fmt.Errorf("syslog %s: write: %w", del.Config.Address, err)
	}
	if err := conn.CloseWrite(); err != nil {
		return 0, fmt.Errorf("syslog %s: close_notify: %w", del.Config.Address, err)
	}
	// A receiver may write before closing; RFC 5425 gives that no meaning, so it is dropped.
	if _, err := io.Copy(io.Discard, conn); err != nil {
		return 0, fmt.Errorf("syslog %s: the receiver did not close the connection cleanly after %s, so they may not have arrived: %w",
			del.Config.Address, describe(recs), err)
	}
	return len(recs), nil
}

// syslogTLS is the client TLS configuration of a syslog sink: sinkTLS, with the server
// name defaulting to the address's host.
func syslogTLS(c service.SinkConfig) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, err
	}
	return sinkTLS(c.TLS, host)
}

// sinkTLS is the client TLS configuration of a sink: TLS 1.2 or later, the configured CAs
// (else the system roots) and server name (else host; "" lets the Kafka client use each
// broker's host).
func sinkTLS(t *service.SinkTLS, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t != nil {
		if t.ServerName != "" {
			cfg.ServerName = t.ServerName
		}
		if t.CAPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(t.CAPEM)) {
				return nil, errors.New("tls.ca_pem holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
	}
	return cfg, nil
}
