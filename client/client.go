// Package client is the Go client of scimtrail for the vendor's app. This file holds the
// client itself and app event ingestion (POST /api/v1/tenants/{t}/events): RecordEvents
// batches events, gives every batch an idempotency key, and retries failed batches with
// backoff, so a retried batch is never recorded twice.
package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one scimtrail server with one bearer token (an app token of one tenant,
// or an operator token). It is safe for concurrent use.
type Client struct {
	base  string
	token string
	opts  options
}

type options struct {
	http          *http.Client
	maxRetries    int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	batchSize     int
	maxBatchBytes int
	now           func() time.Time
}

// Option changes a Client's defaults.
type Option func(*options)

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

// WithRetries sets how many times a failed batch is retried (default 5) and the backoff
// before the first retry (default 200 ms), which doubles, with jitter, up to 10 s.
func WithRetries(n int, firstBackoff time.Duration) Option {
	return func(o *options) { o.maxRetries, o.minBackoff = n, firstBackoff }
}

// WithBatchSize sets how many events one request carries at most (default 500, at most
// 1,000). Batches are also cut before their JSON passes 768 KiB, under the server's default
// 1 MiB body limit.
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = min(max(n, 1), MaxBatch) } }

// MaxBatch is the server's limit of events per request.
const MaxBatch = 1000

// New returns a client of the server at baseURL ("https://scim.example.com") with token.
func New(baseURL, token string, opts ...Option) *Client {
	o := options{
		http:          &http.Client{Timeout: 30 * time.Second},
		maxRetries:    5,
		minBackoff:    200 * time.Millisecond,
		maxBackoff:    10 * time.Second,
		batchSize:     500,
		maxBatchBytes: 768 << 10,
		now:           time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, opts: o}
}

// Event is one admin action the app performed. Action must start with "app."; see
// docs/app-integration.md and docs/audit-events.md for the fields and their limits.
type Event struct {
	// ID is optional: an event with an ID is recorded at most once, whatever request carries
	// it. Without one, the batch's generated idempotency key protects the retries.
	ID         string         `json:"id,omitempty"`
	Action     string         `json:"action"`
	OccurredAt time.Time      `json:"occurred_at"` // zero: the time RecordEvents is called
	Actor      Actor          `json:"actor"`
	Targets    []Target       `json:"targets,omitempty"`
	Context    Context        `json:"context,omitzero"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

// Actor is who acted in the app, and on whose behalf (an impersonation, a support ticket).
type Actor struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
}

// Target is what the action was about. For app.role_granted and app.role_revoked, one
// {Type: "User", ID: <scimtrail user id>} and one {Type: "Role", ID: <role>}.
type Target struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Display string `json:"display,omitempty"`
}

// Context is the request in the app that caused the action.
type Context struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Recorded is the outcome of one event: the seq of its ledger entry, and whether an
// earlier request had recorded it already.
type Recorded struct {
	Seq      int64  `json:"seq"`
	ID       string `json:"id,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
}

// Error is an error response of the server.
type Error struct {
	Status  int
	Code    string // "invalid", "conflict", "not_found", …
	Message string // names the field at fault for "invalid"
}

func (e *Error) Error() string {
	return fmt.Sprintf("scimtrail: %d %s: %s", e.Status, e.Code, e.Message)
}

// RecordEvents records events in tenant's ledger, in order, in batches. Each batch is
// atomic and carries a generated Idempotency-Key that its retries reuse, so retrying after
// a lost response never records a batch twice. It returns one Recorded per event; on error,
// the results of the batches that succeeded before it (a prefix of events) and the error.
// Refusals (4xx other than 429) are returned at once as *Error; network errors, 429 and 5xx
// are retried with backoff until the retries run out or ctx ends.
func (c *Client) RecordEvents(ctx context.Context, tenant string, events ...Event) ([]Recorded, error) {
	now := c.opts.now().UTC()
	out := make([]Recorded, 0, len(events))
	var batch []json.RawMessage
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := c.recordBatch(ctx, tenant, batch)
		batch, size = batch[:0], 0
		out = append(out, res...)
		return err
	}
	for _, ev := range events {
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = now
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return out, fmt.Errorf("scimtrail: event %q: %w", ev.Action, err)
		}
		if len(batch) > 0 && (len(batch) >= c.opts.batchSize || size+len(b) > c.opts.maxBatchBytes) {
			if err := flush(); err != nil {
				return out, err
			}
		}
		batch = append(batch, b)
		size += len(b) + 1
	}
	return out, flush()
}

func (c *Client) recordBatch(ctx context.Context, tenant string, batch []json.RawMessage) ([]Recorded, error) {
	body, err := json.Marshal(map[string]any{"events": batch})
	if err != nil {
		return nil, err
	}
	var key [16]byte
	crand.Read(key[:])
	var res struct {
		Events []Recorded `json:"events"`
	}
	path := "/api/v1/tenants/" + url.PathEscape(tenant) + "/events"
	if err := c.do(ctx, http.MethodPost, path, body, map[string]string{"Idempotency-Key": "client-" + hex.EncodeToString(key[:])}, &res); err != nil {
		return nil, err
	}
	if len(res.Events) != len(batch) {
		return nil, fmt.Errorf("scimtrail: the server answered %d results for %d events", len(res.Events), len(batch))
	}
	return res.Events, nil
}

// do sends a request, retrying network errors, 429 and 5xx with jittered exponential
// backoff (or the server's Retry-After), and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body []byte, header map[string]string, out any) error {
	backoff := c.opts.minBackoff
	for attempt := 0; ; attempt++ {
		err, retry, wait := c.try(ctx, method, path, body, header, out)
		if err == nil || !retry || attempt >= c.opts.maxRetries {
			return err
		}
		if wait == 0 {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, c.opts.maxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) try(ctx context.Context, method, path string, body []byte, header map[string]string, out any) (err error, retry bool, wait time.Duration) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err, false, 0
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.opts.http.Do(req)
	if err != nil {
		return fmt.Errorf("scimtrail: %s %s: %w", method, path, err), ctx.Err() == nil, 0
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("scimtrail: %s %s: %w", method, path, err), ctx.Err() == nil, 0
	}
	if res.StatusCode/100 == 2 {
		if out == nil {
			return nil, false, 0
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("scimtrail: %s %s: the answer is not the expected JSON: %w", method, path, err), false, 0
		}
		return nil, false, 0
	}
	apiErr := &Error{Status: res.StatusCode}
	var eb struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(b, &eb) == nil {
		apiErr.Code, apiErr.Message = eb.Error.Code, eb.Error.Message
	}
	retry = res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		wait = min(time.Duration(s)*time.Second, c.opts.maxBackoff)
	}
	return apiErr, retry, wait
}
