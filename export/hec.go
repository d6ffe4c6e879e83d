package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/scimtrail/scimtrail/service"
)

// HECPath is the Splunk HTTP Event Collector endpoint that takes JSON events; a sink URL
// without a path ("https://splunk.example.com:8088") is completed with it.
const HECPath = "/services/collector/event"

// hecEvent is one event of a HEC batch: a batch is such objects concatenated, which is the
// shape the endpoint documents ("batched events" — not a JSON array).
type hecEvent struct {
	Time       float64 `json:"time"` // Unix seconds with fraction
	Source     string  `json:"source"`
	Sourcetype string  `json:"sourcetype"`
	Event      any     `json:"event"`
}

// hecURL completes a HEC sink's URL with HECPath when it names only the server.
func hecURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return raw
	}
	u.Path = HECPath
	return u.String()
}

// HECBody returns the body of one HEC request for recs: one event per record, the native
// record or its OCSF event (with tenant, seq, leaf hash and checkpoint alongside).
func HECBody(recs []Record, format string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		ev := hecEvent{Source: "scimtrail:" + r.Tenant, Sourcetype: "scimtrail:audit", Event: r}
		if t := r.Time(); !t.IsZero() {
			ev.Time = float64(t.UnixMicro()) / 1e6
		}
		if format == service.FormatOCSF {
			o, err := ocsfRecord(r)
			if err != nil {
				return nil, err
			}
			ev.Sourcetype, ev.Event = "scimtrail:ocsf", o
		}
		if err := enc.Encode(ev); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// deliverHEC posts recs as one batch. HEC answers 200 only when it accepted the whole batch
// (without indexer acknowledgement, which this sink does not ask for, that is Splunk's
// promise of delivery), so a batch is all or nothing: anything else retries all of it.
func (d *Dispatcher) deliverHEC(ctx context.Context, del Delivery, recs []Record) (int, error) {
	if len(del.Secrets) == 0 {
		return 0, errors.New("the sink has no HEC token")
	}
	body, err := HECBody(recs, del.Config.Format)
	if err != nil {
		return 0, err
	}
	target := hecURL(del.Config.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scimtrail-export/1")
	req.Header.Set("Authorization", "Splunk "+del.Secrets[0].Value)
	resp, err := d.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return 0, fmt.Errorf("POST %s: %w", target, ue.Unwrap())
		}
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		// HEC explains itself in {"text","code"}; the text never echoes the token.
		var hecErr struct {
			Text string `json:"text"`
			Code int    `json:"code"`
		}
		json.Unmarshal(raw, &hecErr)
		return 0, fmt.Errorf("HEC answered %s (code %d: %s) for %s",
			resp.Status, hecErr.Code, strings.ToValidUTF8(hecErr.Text, ""), describe(recs))
	}
	return len(recs), nil
}
