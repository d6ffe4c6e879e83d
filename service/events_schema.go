package service

// Action schemas and settings of app events: the vendor registers, per action, JSON Schemas
// for an event's metadata and targets (versioned, for one tenant or for all), and each tenant
// says whether actions without a schema are accepted.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/scimtrail/scimtrail"
)

// MaxEventSchema bounds one registered JSON Schema, in bytes of compact JSON.
const MaxEventSchema = 32 << 10

// schemaCache keeps compiled schemas by the SHA-256 of their bytes: a schema version never
// changes, so its compiled form can be shared by every request and every replica's cache
// is right by construction. The zero value is ready to use.
type schemaCache struct {
	mu sync.Mutex
	m  map[[32]byte]*jsonschema.Schema
}

// compile returns the compiled schema of raw, compiling it on first use.
func (c *schemaCache) compile(raw []byte) (*jsonschema.Schema, error) {
	key := sha256.Sum256(raw)
	c.mu.Lock()
	sch, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return sch, nil
	}
	sch, err := compileSchema(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 4096 {
		c.m = map[[32]byte]*jsonschema.Schema{}
	}
	c.m[key] = sch
	return sch, nil
}

// noLoader refuses every external reference: a registered schema must be self-contained,
// and resolving a $ref must never make the server fetch a URL or read a file.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external references are not allowed (%s)", url)
}

const schemaURL = "urn:scimtrail:event-schema"

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// resolvedSchema is the schema an action's events are checked against.
type resolvedSchema struct {
	schema scimtrail.EventSchema // zero Version: none
}

func (r resolvedSchema) label() string {
	if r.schema.Tenant == "" {
		return "global:v" + strconv.Itoa(r.schema.Version)
	}
	return "tenant:v" + strconv.Itoa(r.schema.Version)
}

// schemaSet is what a request's events are checked against: the schema of each action and
// the tenant's policy for actions without one.
type schemaSet struct {
	unknownActions string
	byAction       map[string]resolvedSchema
}

func (a schemaSet) sameVersions(b schemaSet) bool {
	return a.unknownActions == b.unknownActions && maps.EqualFunc(a.byAction, b.byAction, func(x, y resolvedSchema) bool {
		return x.schema.Tenant == y.schema.Tenant && x.schema.Version == y.schema.Version
	})
}

// resolveSchemas finds the latest schema of each action of events: the tenant's own, else
// the global one.
func (s *Service) resolveSchemas(ctx context.Context, tx scimtrail.ReadTx, tenant string, events []AppEvent) (schemaSet, error) {
	settings, err := tx.EventSettings(ctx, tenant)
	if err != nil {
		return schemaSet{}, err
	}
	set := schemaSet{unknownActions: settings.UnknownActions, byAction: map[string]resolvedSchema{}}
	for _, ev := range events {
		if _, done := set.byAction[ev.Action]; done {
			continue
		}
		var r resolvedSchema
		for _, scope := range []string{tenant, ""} {
			sc, err := tx.EventSchema(ctx, scope, ev.Action, 0)
			if isNotFound(err) {
				continue
			} else if err != nil {
				return schemaSet{}, err
			}
			r.schema = sc
			break
		}
		set.byAction[ev.Action] = r
	}
	return set, nil
}

var english = message.NewPrinter(language.English)

// checkEvents checks each event against its action's schema and the tenant's policy, and
// the users that access-relevant events name; it records the schema version used in the
// event's entry.
func (s *Service) checkEvents(ctx context.Context, tx scimtrail.ReadTx, tenant string, events []AppEvent, prepared []preparedEvent, set schemaSet, field func(int, string) string) error {
	for i := range events {
		ev, p := &events[i], &prepared[i]
		name := func(f string) string { return field(i, f) }
		r := set.byAction[ev.Action]
		builtin := ev.Action == ActionAppRoleGranted || ev.Action == ActionAppRoleRevoked
		changes := p.base
		if r.schema.Version == 0 {
			if !builtin && set.unknownActions == scimtrail.UnknownActionsReject {
				return scimtrail.Errorf(scimtrail.EINVALID, "%s %q has no registered schema, and tenant %s rejects unknown actions", name("action"), ev.Action, tenant)
			}
		} else {
			if err := s.validate(r.schema.Metadata, metadataInstance(ev.Metadata), name("metadata")); err != nil {
				return err
			}
			if err := s.validate(r.schema.Targets, targetsInstance(ev.Targets), name("targets")); err != nil {
				return err
			}
			changes = append(changes[:len(changes):len(changes)], scimtrail.Change{Path: "schema", New: r.label()})
		}
		p.entry.Changes = append(changes[:len(changes):len(changes)], p.meta...)
		if p.grant != nil {
			if _, err := tx.Resource(ctx, tenant, scimtrail.UserResource, p.grant.UserID); isNotFound(err) {
				return scimtrail.Errorf(scimtrail.EINVALID, "%s names user %q, which does not exist in tenant %s", name("targets"), p.grant.UserID, tenant)
			} else if err != nil {
				return err
			}
			if err := checkAppRole(ctx, tx, tenant, p.grant.Role, p.revoke, name("targets")); err != nil { // access_appgrants.go
				return err
			}
		}
	}
	return nil
}

func metadataInstance(raw json.RawMessage) any {
	if len(raw) == 0 {
		return map[string]any{}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return map[string]any{} // prepareEvent checked it is a JSON object
	}
	return v
}

func targetsInstance(ts []AppTarget) any {
	out := make([]any, len(ts))
	for i, t := range ts {
		m := map[string]any{"type": t.Type, "id": t.ID}
		if t.Display != "" {
			m["display"] = t.Display
		}
		out[i] = m
	}
	return out
}

// validate checks instance against the schema raw (nil: anything goes) and names the
// failing field under prefix.
func (s *Service) validate(raw json.RawMessage, instance any, prefix string) error {
	if len(raw) == 0 {
		return nil
	}
	sch, err := s.events.compile(raw)
	if err != nil {
		return fmt.Errorf("compile a stored event schema: %w", err)
	}
	err = sch.Validate(instance)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return err
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return scimtrail.Errorf(scimtrail.EINVALID, "%s: %s", fieldPath(prefix, ve.InstanceLocation), ve.ErrorKind.LocalizedString(english))
}

// fieldPath writes an instance location as a field name: metadata.items[2].sku.
func fieldPath(prefix string, loc []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
		} else {
			b.WriteString("." + seg)
		}
	}
	return b.String()
}

// RegisterEventSchema registers a new version of action's schemas for tenant ("" for every
// tenant, recorded in the system log). metadata and targets are JSON Schemas (nil: any);
// at least one is required. Returns EINVALID naming the field for a bad action or schema.
func (s *Service) RegisterEventSchema(ctx context.Context, o Origin, tenant, action string, metadata, targets json.RawMessage) (scimtrail.EventSchema, scimtrail.Receipt, error) {
	if !actionPattern.MatchString(action) || len(action) > maxEventAction {
		return scimtrail.EventSchema{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID,
			"action %q must start with \"app.\" followed by dotted lower-case names, at most %d bytes", action, maxEventAction)
	}
	if len(metadata) == 0 && len(targets) == 0 {
		return scimtrail.EventSchema{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "metadata_schema or targets_schema is required")
	}
	docs := map[string]any{}
	for _, f := range []struct {
		name string
		raw  *json.RawMessage
	}{{"metadata_schema", &metadata}, {"targets_schema", &targets}} {
		if len(*f.raw) == 0 {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, *f.raw); err != nil {
			return scimtrail.EventSchema{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "%s is not valid JSON", f.name)
		}
		if compact.Len() > MaxEventSchema {
			return scimtrail.EventSchema{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "%s is %d bytes; at most %d are allowed", f.name, compact.Len(), MaxEventSchema)
		}
		if _, err := compileSchema(compact.Bytes()); err != nil {
			return scimtrail.EventSchema{}, scimtrail.Receipt{}, &scimtrail.Error{Code: scimtrail.EINVALID, Err: err,
				Message: fmt.Sprintf("%s is not a usable JSON Schema: %s", f.name, firstLine(err.Error()))}
		}
		*f.raw = compact.Bytes()
		var doc any
		json.Unmarshal(compact.Bytes(), &doc)
		docs[f.name] = doc
	}
	var out scimtrail.EventSchema
	var receipt scimtrail.Receipt
	err := s.store.Update(ctx, logOf(tenant), func(tx scimtrail.Tx) error {
		now := s.stamp()
		version := 1
		if cur, err := tx.EventSchema(ctx, tenant, action, 0); err == nil {
			version = cur.Version + 1
		} else if !isNotFound(err) {
			return err
		}
		e := scimtrail.Entry{Action: "event_schema.registered", Target: &scimtrail.Target{Type: "EventSchema", ID: action},
			Changes: []scimtrail.Change{{Path: "version", New: version}}}
		for _, f := range []string{"metadata_schema", "targets_schema"} {
			if d, ok := docs[f]; ok {
				e.Changes = append(e.Changes, scimtrail.Change{Path: f, New: d})
			}
		}
		var err error
		receipt, err = appendEntries(ctx, tx, logOf(tenant), o, now, e)
		if err != nil {
			return err
		}
		out = scimtrail.EventSchema{Tenant: tenant, Action: action, Version: version, Metadata: metadata, Targets: targets, Created: now, Seq: receipt.Seq}
		return tx.InsertEventSchema(ctx, out)
	})
	if err != nil {
		return scimtrail.EventSchema{}, scimtrail.Receipt{}, err
	}
	return out, receipt, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// EventSchema returns version (0: the latest) of action's schema for tenant ("" global).
// Returns ENOTFOUND when there is none.
func (s *Service) EventSchema(ctx context.Context, tenant, action string, version int) (scimtrail.EventSchema, error) {
	var out scimtrail.EventSchema
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		out, err = tx.EventSchema(ctx, tenant, action, version)
		return err
	})
	return out, err
}

// EventSchemas lists the latest schema of each of tenant's ("" global) actions.
func (s *Service) EventSchemas(ctx context.Context, tenant string) ([]scimtrail.EventSchema, error) {
	var out []scimtrail.EventSchema
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		out, err = tx.EventSchemas(ctx, tenant)
		return err
	})
	return out, err
}

// EventSettings returns tenant's app-event settings, with the defaults filled in.
func (s *Service) EventSettings(ctx context.Context, tenant string) (scimtrail.EventSettings, error) {
	var out scimtrail.EventSettings
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		out, err = tx.EventSettings(ctx, tenant)
		return err
	})
	if out.UnknownActions == "" {
		out.UnknownActions = scimtrail.UnknownActionsAccept
	}
	return out, err
}

// SetEventSettings sets whether tenant accepts events whose action has no schema; the
// change is a ledger entry (tenant.event_settings_changed). Returns EINVALID for a value
// other than "accept" or "reject".
func (s *Service) SetEventSettings(ctx context.Context, o Origin, tenant, unknownActions string) (scimtrail.EventSettings, scimtrail.Receipt, error) {
	if unknownActions != scimtrail.UnknownActionsAccept && unknownActions != scimtrail.UnknownActionsReject {
		return scimtrail.EventSettings{}, scimtrail.Receipt{}, scimtrail.Errorf(scimtrail.EINVALID, "unknown_actions must be \"accept\" or \"reject\", not %q", unknownActions)
	}
	var out scimtrail.EventSettings
	var receipt scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		cur, err := tx.EventSettings(ctx, tenant)
		if err != nil {
			return err
		}
		old := cur.UnknownActions
		if old == "" {
			old = scimtrail.UnknownActionsAccept
		}
		now := s.stamp()
		out = scimtrail.EventSettings{Tenant: tenant, UnknownActions: unknownActions, Updated: now}
		if err := tx.PutEventSettings(ctx, out); err != nil {
			return err
		}
		receipt, err = appendEntries(ctx, tx, tenant, o, now, scimtrail.Entry{
			Action:  "tenant.event_settings_changed",
			Target:  &scimtrail.Target{Type: "Tenant", ID: tenant},
			Changes: []scimtrail.Change{{Path: "unknown_actions", Old: old, New: unknownActions}},
		})
		return err
	})
	return out, receipt, err
}

// AppRoleGrants lists the roles the app says it granted itself, in tenant, to userID ("" for
// every user).
func (s *Service) AppRoleGrants(ctx context.Context, tenant, userID string) ([]scimtrail.AppRoleGrant, error) {
	var out []scimtrail.AppRoleGrant
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		out, err = tx.AppRoleGrants(ctx, tenant, userID)
		return err
	})
	return out, err
}
