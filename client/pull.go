package client

// This file is the pull API (GET /api/v1/tenants/{t}/events): the app consumes its
// tenant's ledger from a cursor it stores, so that a restart resumes where it stopped.
// Delivery is at least once: a record handled but whose cursor was not yet saved comes
// again, with the same seq, and Consumer drops records at or before its cursor.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Record is one ledger entry of the tenant, with what verifying it needs: Entry holds the
// exact bytes that were hashed into LeafHash (hex).
type Record struct {
	Tenant     string          `json:"tenant"`
	Seq        int64           `json:"seq"`
	LeafHash   string          `json:"leaf_hash"`
	Checkpoint json.RawMessage `json:"checkpoint"`
	Entry      json.RawMessage `json:"entry"`
}

// Action returns the entry's action, e.g. "user.deactivated".
func (e Record) Action() string {
	var v struct {
		Action string `json:"action"`
	}
	json.Unmarshal(e.Entry, &v)
	return v.Action
}

// Ledger returns the tenant's ledger records after seq after (GET
// /api/v1/tenants/{t}/events), waiting up to wait for the first one to be committed (long
// poll; the server caps it at 50s). wait must stay below the HTTP client's timeout (30s by
// default). It also returns the cursor to pass next time.
func (c *Client) Ledger(ctx context.Context, tenant string, after int64, wait time.Duration) ([]Record, int64, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var page struct {
		Events    []Record `json:"events"`
		NextAfter int64    `json:"next_after"`
	}
	err, _, _ := c.try(ctx, http.MethodGet, "/api/v1/tenants/"+url.PathEscape(tenant)+"/events?"+q.Encode(), nil, nil, &page)
	if err != nil {
		return nil, after, err
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

// Consumer hands every ledger record of a tenant to Handle, in seq order, saving the cursor after
// each one Handle accepted.
type Consumer struct {
	Client *Client
	Tenant string
	Cursor Cursor
	Wait   time.Duration // long-poll wait; 0: 20s, under the HTTP client's timeout
	// Handle processes one event. An error stops Run with that error, leaving the cursor
	// before the event, so the next Run delivers it again.
	Handle func(ctx context.Context, r Record) error
}

// Run consumes until ctx is done or Handle fails. Network and server errors are retried
// with exponential backoff; an authentication or authorization error (4xx) is returned.
func (c *Consumer) Run(ctx context.Context) error {
	wait := c.Wait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	after, err := c.Cursor.Load(ctx)
	if err != nil {
		return fmt.Errorf("scimtrail: load cursor: %w", err)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		events, _, err := c.Client.Ledger(ctx, c.Tenant, after, wait)
		if err != nil {
			var ae *Error
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
