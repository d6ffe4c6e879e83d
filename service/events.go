package service

// App events: the vendor's app records its own admin actions in the tenant's ledger
// (POST /api/v1/tenants/{t}/events). Each accepted event becomes one ledger entry with
// channel app_api and actor type app; docs/audit-events.md describes the entry shape.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// Limits of app events. They keep one event's ledger entry small and one request's
// transaction bounded.
const (
	MaxEventsPerRequest = 1000
	MaxEventMetadata    = 8 << 10 // bytes of compact JSON
	MaxEventTargets     = 20
	maxEventString      = 256
	maxEventUserAgent   = 512
	maxEventAction      = 100
	// maxClockSkew is how far in the future occurred_at may be: the app's clock may run a
	// little ahead of ours, but an event cannot have happened tomorrow.
	maxClockSkew = 5 * time.Minute
)

// EventKeyRetention is how long idempotency keys are kept (the contract is at least 24
// hours). Older keys are treated as unknown and deleted by later requests of the tenant.
const EventKeyRetention = 48 * time.Hour

// Built-in access-relevant actions: the app granted or revoked a role itself. They need a
// User target (a scimtrail user id) and a Role target, and they update the tenant's app role
// grants in the same transaction.
const (
	ActionAppRoleGranted = "app.role_granted"
	ActionAppRoleRevoked = "app.role_revoked"
)

// actionPattern is the shape of an app event action: "app." and then dotted lower-case
// segments. scimtrail's own actions never start with "app.", so an app event can never pass
// for one of them.
var actionPattern = regexp.MustCompile(`^app(\.[a-z][a-z0-9_]*)+$`)

// AppEvent is one event as the app sends it.
type AppEvent struct {
	// ID, if set, is the event's idempotency key: an event with an ID already recorded (with
	// the same content) is not recorded again.
	ID         string          `json:"id,omitempty"`
	Action     string          `json:"action"`
	OccurredAt string          `json:"occurred_at"` // RFC 3339
	Actor      AppActor        `json:"actor"`
	Targets    []AppTarget     `json:"targets,omitempty"`
	Context    AppContext      `json:"context,omitzero"`
	Metadata   json.RawMessage `json:"metadata,omitempty"` // a JSON object
}

// AppActor is who acted in the app.
type AppActor struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
}

// AppTarget is what an app event is about.
type AppTarget struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Display string `json:"display,omitempty"`
}

// AppContext is the request in the app that caused the event.
type AppContext struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// RecordedEvent is the outcome of one event: the seq of its ledger entry, and whether it
// was recorded by an earlier request (an idempotent replay).
type RecordedEvent struct {
	Seq      int64  `json:"seq"`
	ID       string `json:"id,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
}

// RecordResult is the outcome of RecordEvents, one RecordedEvent per event in order.
// Replayed is true when nothing new was recorded: every event was a replay.
type RecordResult struct {
	Events   []RecordedEvent
	Replayed bool
}

// preparedEvent is an event checked and turned into its ledger entry outside the write
// transaction, so the single writer does as little as possible.
type preparedEvent struct {
	entry       scimtrail.Entry
	base, meta  []scimtrail.Change // entry.Changes is base, the schema used, then meta
	keyHash     []byte             // nil without ID
	requestHash []byte
	grant       *scimtrail.AppRoleGrant // access-relevant events
	revoke      bool
}

var errSchemasChanged = errors.New("event schemas changed during the request")

// RecordEvents records the app's events in tenant's ledger, all or none, in one
// transaction. field names each event in error messages ("events[3]" in a batch, "" for a
// single event). idemKey is the request's Idempotency-Key ("" for none): a request with a
// key already used returns the original seqs if its events are the same, and ECONFLICT if
// not. Returns EINVALID naming the field for an event that breaks the rules or its action's
// schema.
func (s *Service) RecordEvents(ctx context.Context, o Origin, tenant string, events []AppEvent, batch bool, idemKey string) (RecordResult, error) {
	field := func(i int, name string) string {
		if batch {
			return fmt.Sprintf("events[%d].%s", i, name)
		}
		return name
	}
	switch {
	case len(events) == 0:
		return RecordResult{}, scimtrail.Errorf(scimtrail.EINVALID, "events must hold at least one event")
	case len(events) > MaxEventsPerRequest:
		return RecordResult{}, scimtrail.Errorf(scimtrail.EINVALID, "events holds %d events; at most %d are allowed per request", len(events), MaxEventsPerRequest)
	case len(idemKey) > maxEventString:
		return RecordResult{}, scimtrail.Errorf(scimtrail.EINVALID, "the Idempotency-Key header is longer than %d characters", maxEventString)
	}
	now := s.stamp()
	prepared := make([]preparedEvent, len(events))
	ids := map[string]int{}
	for i := range events {
		p, err := prepareEvent(&events[i], now, o, func(name string) string { return field(i, name) })
		if err != nil {
			return RecordResult{}, err
		}
		if id := events[i].ID; id != "" {
			if j, ok := ids[id]; ok {
				return RecordResult{}, scimtrail.Errorf(scimtrail.EINVALID, "%s %q repeats %s", field(i, "id"), id, field(j, "id"))
			}
			ids[id] = i
		}
		prepared[i] = p
	}
	var reqKey, reqHash []byte
	if idemKey != "" {
		reqKey = hashKey("request", idemKey)
		h := sha256.New()
		for _, p := range prepared {
			h.Write(p.requestHash)
		}
		reqHash = h.Sum(nil)
	}

	// Schemas are checked before the write transaction, and the transaction makes sure the
	// versions it was checked against are still the latest; if a schema was registered in
	// between, the request starts over.
	for attempt := 0; ; attempt++ {
		var checked schemaSet
		err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
			var err error
			checked, err = s.resolveSchemas(ctx, tx, tenant, events)
			if err != nil {
				return err
			}
			return s.checkEvents(ctx, tx, tenant, events, prepared, checked, field)
		})
		if err != nil {
			return RecordResult{}, err
		}
		var res RecordResult
		err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
			current, err := s.resolveSchemas(ctx, tx, tenant, events)
			if err != nil {
				return err
			}
			if !current.sameVersions(checked) {
				return errSchemasChanged
			}
			var moved map[string]int64
			res, moved, err = recordEvents(ctx, tx, tenant, now, prepared, reqKey, reqHash, field)
			if err != nil {
				return err
			}
			return s.appGrantsAccess(ctx, tx, o, tenant, now, moved) // access_appgrants.go
		})
		if errors.Is(err, errSchemasChanged) && attempt < 3 {
			continue
		}
		if errors.Is(err, errSchemasChanged) {
			return RecordResult{}, scimtrail.Errorf(scimtrail.ECONFLICT, "the action schemas kept changing while the events were checked; retry")
		}
		return res, err
	}
}

// recordEvents is the write transaction of RecordEvents.
// It also returns the users whose app role grants it changed, each with the seq of the last
// event that changed them.
func recordEvents(ctx context.Context, tx scimtrail.Tx, tenant string, now time.Time, prepared []preparedEvent, reqKey, reqHash []byte, field func(int, string) string) (RecordResult, map[string]int64, error) {
	moved := map[string]int64{}
	since := now.Add(-EventKeyRetention)
	if _, err := tx.DeleteEventKeys(ctx, tenant, since); err != nil {
		return RecordResult{}, nil, err
	}
	if reqKey != nil {
		keys, err := tx.EventKeys(ctx, tenant, [][]byte{reqKey}, since)
		if err != nil {
			return RecordResult{}, nil, err
		}
		if len(keys) > 0 {
			if !bytes.Equal(keys[0].RequestHash, reqHash) || len(keys[0].Seqs) != len(prepared) {
				return RecordResult{}, nil, scimtrail.Errorf(scimtrail.ECONFLICT, "the Idempotency-Key was used for a request with different events")
			}
			res := RecordResult{Replayed: true}
			for i, seq := range keys[0].Seqs {
				res.Events = append(res.Events, RecordedEvent{Seq: seq, ID: idOf(prepared[i]), Replayed: true})
			}
			return res, moved, nil
		}
	}
	var eventKeys [][]byte
	for _, p := range prepared {
		if p.keyHash != nil {
			eventKeys = append(eventKeys, p.keyHash)
		}
	}
	known := map[string]scimtrail.EventKey{}
	if len(eventKeys) > 0 {
		keys, err := tx.EventKeys(ctx, tenant, eventKeys, since)
		if err != nil {
			return RecordResult{}, nil, err
		}
		for _, k := range keys {
			known[string(k.KeyHash)] = k
		}
	}
	res := RecordResult{Events: make([]RecordedEvent, len(prepared))}
	var fresh []scimtrail.Entry
	var freshIdx []int
	for i, p := range prepared {
		if k, ok := known[string(p.keyHash)]; ok && p.keyHash != nil {
			if !bytes.Equal(k.RequestHash, p.requestHash) || len(k.Seqs) != 1 {
				return RecordResult{}, nil, scimtrail.Errorf(scimtrail.ECONFLICT, "%s %q was recorded before with different content", field(i, "id"), idOf(p))
			}
			res.Events[i] = RecordedEvent{Seq: k.Seqs[0], ID: idOf(p), Replayed: true}
			continue
		}
		fresh = append(fresh, p.entry)
		freshIdx = append(freshIdx, i)
	}
	res.Replayed = len(fresh) == 0
	if len(fresh) > 0 {
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return RecordResult{}, nil, err
		}
		head.Tenant = tenant
		stored, next, err := ledger.Append(head, fresh, now)
		if err != nil {
			return RecordResult{}, nil, err
		}
		// The tiles too, in the same transaction, as appendEntries does: without them the
		// events have no inclusion proofs and no /logs tiles until some other write rebuilds
		// the tiles, and audit verify cannot name a rewritten event by its tile hash.
		if err := appendTiles(ctx, tx, head.Size, stored); err != nil {
			return RecordResult{}, nil, err
		}
		if err := tx.AppendEntries(ctx, stored, next); err != nil {
			return RecordResult{}, nil, err
		}
		var newKeys []scimtrail.EventKey
		for j, i := range freshIdx {
			p := prepared[i]
			seq := stored[j].Seq
			res.Events[i] = RecordedEvent{Seq: seq, ID: idOf(p)}
			if p.keyHash != nil {
				newKeys = append(newKeys, scimtrail.EventKey{Tenant: tenant, KeyHash: p.keyHash, RequestHash: p.requestHash, Seqs: []int64{seq}, Created: now})
			}
			if g := p.grant; g != nil {
				g := *g
				g.Tenant, g.Granted, g.Seq = tenant, now, seq
				var changed bool
				if p.revoke {
					changed, err = tx.RevokeAppRole(ctx, tenant, g.UserID, g.Role)
				} else {
					changed, err = tx.GrantAppRole(ctx, g)
				}
				if changed {
					moved[g.UserID] = seq
				}
				if err != nil {
					return RecordResult{}, nil, err
				}
			}
		}
		if err := tx.InsertEventKeys(ctx, newKeys); err != nil {
			return RecordResult{}, nil, err
		}
	}
	if reqKey != nil {
		seqs := make([]int64, len(res.Events))
		for i, e := range res.Events {
			seqs[i] = e.Seq
		}
		if err := tx.InsertEventKeys(ctx, []scimtrail.EventKey{{Tenant: tenant, KeyHash: reqKey, RequestHash: reqHash, Seqs: seqs, Created: now}}); err != nil {
			return RecordResult{}, nil, err
		}
	}
	return res, moved, nil
}

func idOf(p preparedEvent) string {
	for _, c := range p.entry.Changes {
		if c.Path == "event_id" {
			s, _ := c.New.(string)
			return s
		}
	}
	return ""
}

// hashKey is the stored form of an idempotency key: its SHA-256, namespaced so that a
// request key and an event id never collide.
func hashKey(kind, key string) []byte {
	h := sha256.Sum256([]byte(kind + "\x00" + key))
	return h[:]
}

// prepareEvent checks the built-in rules of one event and builds its ledger entry. name
// turns a field name into the one error messages use.
func prepareEvent(ev *AppEvent, now time.Time, o Origin, name func(string) string) (preparedEvent, error) {
	invalid := func(f, format string, args ...any) error {
		return scimtrail.Errorf(scimtrail.EINVALID, "%s %s", name(f), fmt.Sprintf(format, args...))
	}
	checkLen := func(f, v string, limit int) error {
		if len(v) > limit {
			return invalid(f, "is longer than %d bytes", limit)
		}
		return nil
	}
	switch {
	case ev.Action == "":
		return preparedEvent{}, invalid("action", "is required")
	case len(ev.Action) > maxEventAction:
		return preparedEvent{}, invalid("action", "is longer than %d bytes", maxEventAction)
	case !actionPattern.MatchString(ev.Action):
		return preparedEvent{}, invalid("action", "%q must start with \"app.\" followed by dotted lower-case names (app.user.role_changed): scimtrail's own actions cannot be sent by an app", ev.Action)
	case ev.OccurredAt == "":
		return preparedEvent{}, invalid("occurred_at", "is required")
	case ev.Actor.ID == "":
		return preparedEvent{}, invalid("actor.id", "is required: who in the app performed the action")
	}
	occurred, err := time.Parse(time.RFC3339Nano, ev.OccurredAt)
	if err != nil {
		return preparedEvent{}, invalid("occurred_at", "%q is not an RFC 3339 time (2026-11-29T06:40:00Z)", ev.OccurredAt)
	}
	if occurred.After(now.Add(maxClockSkew)) {
		return preparedEvent{}, invalid("occurred_at", "%q is in the future", ev.OccurredAt)
	}
	for _, c := range []struct {
		f, v  string
		limit int
	}{
		{"id", ev.ID, 128}, {"actor.id", ev.Actor.ID, maxEventString}, {"actor.name", ev.Actor.Name, maxEventString},
		{"actor.on_behalf_of", ev.Actor.OnBehalfOf, maxEventString},
		{"context.user_agent", ev.Context.UserAgent, maxEventUserAgent}, {"context.request_id", ev.Context.RequestID, maxEventString},
	} {
		if err := checkLen(c.f, c.v, c.limit); err != nil {
			return preparedEvent{}, err
		}
	}
	if ev.Context.IP != "" {
		if _, err := netip.ParseAddr(ev.Context.IP); err != nil {
			return preparedEvent{}, invalid("context.ip", "%q is not an IP address", ev.Context.IP)
		}
	}
	if len(ev.Targets) > MaxEventTargets {
		return preparedEvent{}, invalid("targets", "holds %d targets; at most %d are allowed", len(ev.Targets), MaxEventTargets)
	}
	for i, t := range ev.Targets {
		f := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.Type == "":
			return preparedEvent{}, invalid(f+".type", "is required")
		case t.ID == "":
			return preparedEvent{}, invalid(f+".id", "is required")
		}
		for _, c := range []struct{ f, v string }{{".type", t.Type}, {".id", t.ID}, {".display", t.Display}} {
			if err := checkLen(f+c.f, c.v, maxEventString); err != nil {
				return preparedEvent{}, err
			}
		}
	}
	var metadata map[string]any
	if len(ev.Metadata) > 0 && !bytes.Equal(ev.Metadata, []byte("null")) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, ev.Metadata); err != nil {
			return preparedEvent{}, invalid("metadata", "is not valid JSON")
		}
		if compact.Len() > MaxEventMetadata {
			return preparedEvent{}, invalid("metadata", "is %d bytes of JSON; at most %d are allowed", compact.Len(), MaxEventMetadata)
		}
		// json.Number keeps integers on the ledger's fast canonical encoder (a float64
		// would send every entry through the general JCS transform); the canonical bytes
		// are the same either way.
		dec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&metadata); err != nil || metadata == nil {
			return preparedEvent{}, invalid("metadata", "must be a JSON object")
		}
		ev.Metadata = compact.Bytes()
	} else {
		ev.Metadata = nil
	}

	entry := scimtrail.Entry{
		Action: ev.Action,
		Actor: scimtrail.Actor{
			Type: scimtrail.ActorApp, ID: ev.Actor.ID, TokenID: o.Actor.TokenID, OnBehalfOf: ev.Actor.OnBehalfOf,
			IP: ev.Context.IP, UserAgent: ev.Context.UserAgent, RequestID: ev.Context.RequestID,
		},
		Channel: scimtrail.ChannelAppAPI,
	}
	if len(ev.Targets) > 0 {
		t := ev.Targets[0]
		entry.Target = &scimtrail.Target{Type: t.Type, ID: t.ID, Display: t.Display}
	}
	changes := []scimtrail.Change{{Path: "occurred_at", New: occurred.UTC().Truncate(time.Microsecond).Format(scimtrail.TimeFormat)}}
	if ev.ID != "" {
		changes = append(changes, scimtrail.Change{Path: "event_id", New: ev.ID})
	}
	if ev.Actor.Name != "" {
		changes = append(changes, scimtrail.Change{Path: "actor.name", New: ev.Actor.Name})
	}
	for i, t := range ev.Targets[min(1, len(ev.Targets)):] {
		tv := map[string]any{"type": t.Type, "id": t.ID}
		if t.Display != "" {
			tv["display"] = t.Display
		}
		changes = append(changes, scimtrail.Change{Path: fmt.Sprintf("targets[%d]", i+1), New: tv})
	}
	p := preparedEvent{}
	if ev.Action == ActionAppRoleGranted || ev.Action == ActionAppRoleRevoked {
		user, role, err := roleTargets(ev.Targets, name)
		if err != nil {
			return preparedEvent{}, err
		}
		entry.Target = &scimtrail.Target{Type: string(scimtrail.UserResource), ID: user.ID, Display: user.Display}
		p.grant = &scimtrail.AppRoleGrant{UserID: user.ID, Role: role.ID, By: ev.Actor.ID}
		if ev.Action == ActionAppRoleGranted {
			changes = append(changes, scimtrail.Change{Path: "role", New: role.ID})
		} else {
			changes = append(changes, scimtrail.Change{Path: "role", Old: role.ID})
			p.revoke = true
		}
		// The Role target is recorded as the "role" change, and the User as the entry's
		// target; keep only other targets as targets[i] changes.
		changes = slices.DeleteFunc(changes, func(c scimtrail.Change) bool {
			m, ok := c.New.(map[string]any)
			return ok && len(c.Path) > 7 && c.Path[:7] == "targets" && (m["type"] == "User" || m["type"] == "Role")
		})
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.meta = append(p.meta, scimtrail.Change{Path: "metadata." + k, New: metadata[k]})
	}
	p.base = changes
	entry.Changes = append(slices.Clip(changes), p.meta...)
	p.entry = entry

	// The request hash covers what the event says, normalised (compact metadata), so that a
	// retry that re-serialises the same event is recognised as the same.
	normal, err := json.Marshal(ev)
	if err != nil {
		return preparedEvent{}, err
	}
	h := sha256.Sum256(normal)
	p.requestHash = h[:]
	if ev.ID != "" {
		p.keyHash = hashKey("event", ev.ID)
	}
	return p, nil
}

// roleTargets finds the User and the Role target of an access-relevant event.
func roleTargets(targets []AppTarget, name func(string) string) (user, role AppTarget, err error) {
	var users, roles int
	for _, t := range targets {
		switch t.Type {
		case "User":
			user = t
			users++
		case "Role":
			role = t
			roles++
		}
	}
	if users != 1 || roles != 1 {
		return user, role, scimtrail.Errorf(scimtrail.EINVALID,
			`%s must hold exactly one {"type":"User"} target (a scimtrail user id) and one {"type":"Role"} target for %s and %s`,
			name("targets"), ActionAppRoleGranted, ActionAppRoleRevoked)
	}
	return user, role, nil
}
