// Package client is the Go client for the vendor's app: it consumes a tenant's audit events
// through scimtrail's pull API (GET /api/v1/tenants/{t}/events, long poll) from a cursor the
// app stores, so that a restart of the app resumes where it stopped. Delivery is at least
// once: an event whose handling succeeded but whose cursor was not yet saved is delivered
// again, with the same seq.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Client speaks to one scimtrail server with one bearer token (an app, admin or operator
// token).
type Client struct {
	BaseURL string       // e.g. "https://scim.example.com"
	Token   string       // the bearer token
	HTTP    *http.Client // nil: a client with a timeout longer than the longest poll
}

// New returns a client of the server at baseURL.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token}
}

// Event is one ledger entry of the tenant, with what verifying it needs: Entry holds the
// exact bytes that were hashed into LeafHash (hex).
type Event struct {
	Tenant     string          `json:"tenant"`
	Seq        int64           `json:"seq"`
	LeafHash   string          `json:"leaf_hash"`
	Checkpoint json.RawMessage `json:"checkpoint"`
	Entry      json.RawMessage `json:"entry"`
}

// Action returns the entry's action, e.g. "user.deactivated".
func (e Event) Action() string {
	var v struct {
		Action string `json:"action"`
	}
	json.Unmarshal(e.Entry, &v)
	return v.Action
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("scimtrail: %d %s: %s", e.Status, e.Code, e.Message)
}

// Events returns the tenant's events after seq after, waiting up to wait for the first one
// (the server caps the wait), and the cursor to pass next time.
func (c *Client) Events(ctx context.Context, tenant string, after int64, wait time.Duration) ([]Event, int64, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		c.BaseURL+"/api/v1/tenants/"+url.PathEscape(tenant)+"/events?"+q.Encode(), nil)
	if err != nil {
		return nil, after, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: wait + 30*time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, after, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, after, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(body, &e)
		return nil, after, &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	var page struct {
		Events    []Event `json:"events"`
		NextAfter int64   `json:"next_after"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, after, fmt.Errorf("scimtrail: events answer: %w", err)
	}
	return page.Events, page.NextAfter, nil
}

// Cursor stores the seq of the last event the app handled.
type Cursor interface {
	Load(ctx context.Context) (int64, error)
	Save(ctx context.Context, seq int64) error
}

// FileCursor is a Cursor in a file, replaced atomically on each save.
type FileCursor string

// Load reads the cursor; a missing file is 0, the start of the log.
func (f FileCursor) Load(context.Context) (int64, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Save writes the cursor to a temporary file and renames it over the old one, so that a
// crash leaves either the old or the new value.
func (f FileCursor) Save(_ context.Context, seq int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(string(f)), ".cursor-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", seq); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), string(f))
}

// Consumer hands every event of a tenant to Handle, in seq order, saving the cursor after
// each one Handle accepted.
type Consumer struct {
	Client *Client
	Tenant string
	Cursor Cursor
	Wait   time.Duration // long-poll wait; 0: 30s
	// Handle processes one event. An error stops Run with that error, leaving the cursor
	// before the event, so the next Run delivers it again.
	Handle func(ctx context.Context, e Event) error
}

// Run consumes until ctx is done or Handle fails. Network and server errors are retried
// with exponential backoff; an authentication or authorization error (4xx) is returned.
func (c *Consumer) Run(ctx context.Context) error {
	wait := c.Wait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	after, err := c.Cursor.Load(ctx)
	if err != nil {
		return fmt.Errorf("scimtrail: load cursor: %w", err)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		events, _, err := c.Client.Events(ctx, c.Tenant, after, wait)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		for _, e := range events {
			if e.Seq <= after {
				continue // already handled: at-least-once duplicates are dropped by seq
			}
			if err := c.Handle(ctx, e); err != nil {
				return err
			}
			after = e.Seq
			if err := c.Cursor.Save(ctx, after); err != nil {
				return fmt.Errorf("scimtrail: save cursor: %w", err)
			}
		}
	}
	return ctx.Err()
}
