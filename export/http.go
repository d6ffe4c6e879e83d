package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/scimtrail/scimtrail/export/scimset"
	"github.com/scimtrail/scimtrail/export/webhook"
	"github.com/scimtrail/scimtrail/service"
)

// guardedClient is the HTTP client of sinks. The address check runs on the resolved address
// at connect time, so a host that resolved to a public address when the sink was created and
// to 169.254.169.254 now is still refused.
func guardedClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !service.IsPublicAddr(ap.Addr()) {
				return fmt.Errorf("sink address %s is not public; refused (--allow-private-sinks)", address)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webhookMessage is the Standard Webhooks payload shape: a type, a timestamp and the data.
type webhookMessage struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

func (d *Dispatcher) deliverWebhook(ctx context.Context, del Delivery, r Record, action string) error {
	var body []byte
	contentType := "application/json"
	switch del.Config.Format {
	case service.FormatOCSF:
		rec, err := ocsfRecord(r)
		if err != nil {
			return err
		}
		body, err = json.Marshal(webhookMessage{Type: action, Timestamp: timestampOf(r), Data: rec})
		if err != nil {
			return err
		}
	case service.FormatSET:
		if r.IsCheckpoint() {
			return nil // RFC 9967 has no event for a log checkpoint (docs/sinks.md): skipped
		}
		tok, ok, err := scimset.Token(r.Entry, r.LeafHash, "scimtrail:"+r.Tenant, del.Config.URL)
		if err != nil {
			return err
		}
		if !ok {
			return nil // not a provisioning event: nothing to send, and the cursor moves on
		}
		body, contentType = []byte(tok), "application/secevent+jwt"
	default:
		var err error
		body, err = json.Marshal(webhookMessage{Type: action, Timestamp: timestampOf(r), Data: r})
		if err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.Config.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "scimtrail-export/1")
	secrets := make([]string, len(del.Secrets))
	for i, s := range del.Secrets {
		secrets[i] = s.Value
	}
	if err := webhook.SetHeaders(req.Header, secrets, MessageID(r), time.Now(), body); err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return fmt.Errorf("POST %s: %w", del.Config.URL, ue.Unwrap())
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s for %s", resp.Status, describe([]Record{r}))
	}
	return nil
}
