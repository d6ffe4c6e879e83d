package service

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/filter"
	"github.com/scimtrail/scimtrail/scim/patch"
	"github.com/scimtrail/scimtrail/scim/schema"
)

// Agents: the tenant's service accounts served as the SCIM Agent resource of
// draft-wzdk-scim-agent-resource-00 (schema.Agent). They are the same rows the admin API
// manages (nhi.go) and write the same ledger actions, so an auditor sees one history
// whichever surface a change came through; the entries' channel tells which.

// Agent is a service account with its owner's userName, as the Agent resource shows it.
type Agent struct {
	Account      scimtrail.ServiceAccount
	OwnerDisplay string
}

// ETag is the agent's version. Every change of a service account sets its Updated time,
// so that time is its version.
func (a Agent) ETag() string { return ETag(a.Account.Updated.UnixMicro()) }

// AgentDocument renders an agent; base is the tenant's SCIM base URL, used for
// meta.location and owners.$ref.
func AgentDocument(a Agent, base string) map[string]any {
	doc := storedAgentDoc(a.Account)
	owner := doc["owners"].([]any)[0].(map[string]any)
	owner["$ref"] = base + "/Users/" + url.PathEscape(a.Account.OwnerID)
	if a.OwnerDisplay != "" {
		owner["display"] = a.OwnerDisplay
	}
	doc["id"] = a.Account.ID
	doc["meta"] = map[string]any{
		"resourceType": "Agent",
		"created":      formatTime(a.Account.Created),
		"lastModified": formatTime(a.Account.Updated),
		"location":     base + "/Agents/" + url.PathEscape(a.Account.ID),
		"version":      a.ETag(),
	}
	return doc
}

// storedAgentDoc is the agent as patch.Apply and the filter evaluator take it: the
// client-writable attributes only.
func storedAgentDoc(a scimtrail.ServiceAccount) map[string]any {
	doc := map[string]any{
		"schemas":       []any{schema.AgentSchema},
		"agentUserName": a.Name,
		"active":        a.State == scimtrail.AccountActive,
		"owners":        []any{map[string]any{"value": a.OwnerID}},
	}
	if a.Description != "" {
		doc["description"] = a.Description
	}
	return doc
}

// agentInput is what a client may set on an agent.
type agentInput struct {
	name, description, ownerID string
	active                     bool
	activeSet                  bool // false: the body left active out
}

func invalidAgent(format string, args ...any) error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, format, args...)
}

// agentInputOf reads a normalised Agent document.
func agentInputOf(doc map[string]any) (agentInput, error) {
	in := agentInput{active: true}
	if _, ok := doc["externalId"]; ok {
		return in, invalidAgent("Agents do not keep an \"externalId\"; find an agent by agentUserName instead")
	}
	name, _ := doc["agentUserName"].(string)
	in.name = strings.TrimSpace(name)
	in.description, _ = doc["description"].(string)
	if v, ok := doc["active"].(bool); ok {
		in.active, in.activeSet = v, true
	}
	switch {
	case in.name == "":
		return in, invalidAgent("an Agent needs an \"agentUserName\"")
	case len(in.name) > maxNameLen || len(in.description) > 4*maxNameLen:
		return in, invalidAgent("\"agentUserName\" (at most %d bytes) or \"description\" (at most %d) is too long", maxNameLen, 4*maxNameLen)
	}
	owners, _ := doc["owners"].([]any)
	if len(owners) != 1 {
		return in, invalidAgent("an Agent needs exactly one entry in \"owners\", its accountable human (a User of the tenant), not %d", len(owners))
	}
	owner, _ := owners[0].(map[string]any)
	in.ownerID, _ = owner["value"].(string)
	if in.ownerID == "" {
		return in, invalidAgent("\"owners\" needs the \"value\" of its User")
	}
	return in, nil
}

// agentBody validates a POST or PUT body.
func agentBody(body []byte) (agentInput, error) {
	raw, err := decodeObject(body)
	if err != nil {
		return agentInput{}, err
	}
	doc, err := schema.Agent().Normalize(raw)
	if err != nil {
		return agentInput{}, err
	}
	return agentInputOf(doc)
}

// accountableOwner checks that ownerID is an active user of the tenant, who can be
// accountable for a service account; field names the attribute in errors.
func accountableOwner(ctx context.Context, tx scimtrail.ReadTx, tenant, ownerID, field string) (scimtrail.Resource, error) {
	owner, err := tx.Resource(ctx, tenant, scimtrail.UserResource, ownerID)
	if isNotFound(err) {
		return owner, invalidAgent("%s %q is not a user of tenant %s", field, ownerID, tenant)
	} else if err != nil {
		return owner, err
	}
	if !owner.Active {
		return owner, invalidAgent("%s %q is a deactivated user and cannot be accountable for a service account", field, ownerID)
	}
	return owner, nil
}

// disabledEntry records an account's deactivation.
func disabledEntry(a scimtrail.ServiceAccount, reason string) scimtrail.Entry {
	return scimtrail.Entry{Action: "service_account.disabled", Target: accountTarget(a), Reason: reason,
		Changes: []scimtrail.Change{{Path: "state", Old: scimtrail.AccountActive, New: scimtrail.AccountDisabled}}}
}

// CreateAgent creates a service account from an Agent resource (POST /Agents). An agent
// created with "active": false is created and disabled in one step. Returns EINVALID
// (scimType invalidValue) for a bad body or an owner who is not an active user.
func (s *Service) CreateAgent(ctx context.Context, o Origin, tenant string, body []byte) (Agent, scimtrail.Receipt, error) {
	in, err := agentBody(body)
	if err != nil {
		return Agent{}, scimtrail.Receipt{}, err
	}
	a := scimtrail.ServiceAccount{Tenant: tenant, ID: newID(), Name: in.name, Description: in.description, OwnerID: in.ownerID, State: scimtrail.AccountActive}
	var out Agent
	var rc scimtrail.Receipt
	err = s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		owner, err := accountableOwner(ctx, tx, tenant, in.ownerID, "owners.value")
		if err != nil {
			return err
		}
		at := s.stamp()
		a.Created, a.Updated = at, at
		if !in.active {
			a.State = scimtrail.AccountDisabled
		}
		if err := tx.InsertServiceAccount(ctx, a); err != nil {
			return err
		}
		entries := []scimtrail.Entry{accountCreatedEntry(a)}
		if !in.active {
			entries = append(entries, disabledEntry(a, "created inactive"))
		}
		out = Agent{Account: a, OwnerDisplay: owner.UserName}
		rc, err = appendEntries(ctx, tx, tenant, o, at, entries...)
		return err
	})
	return out, rc, err
}

// loadAgent reads a service account that is not deleted, with its owner's userName.
func loadAgent(ctx context.Context, tx scimtrail.ReadTx, tenant, id string) (Agent, error) {
	a, err := liveAccount(ctx, tx, tenant, id)
	if err != nil {
		return Agent{}, err
	}
	out := Agent{Account: a}
	refs, err := tx.LookupResources(ctx, tenant, []string{a.OwnerID})
	if len(refs) == 1 {
		out.OwnerDisplay = refs[0].Display
	}
	return out, err
}

// Agent returns one agent. Returns ENOTFOUND, also for a deleted one.
func (s *Service) Agent(ctx context.Context, tenant, id string) (Agent, error) {
	var out Agent
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		out, err = loadAgent(ctx, tx, tenant, id)
		return err
	})
	return out, err
}

// Agents returns the tenant's agents (deleted ones left out) matching the SCIM filter
// ("" matches all), by id. A tenant has few agents, so the filter is evaluated over their
// documents: every Agent attribute is filterable.
func (s *Service) Agents(ctx context.Context, tenant, filterText string) ([]Agent, error) {
	rt := schema.Agent()
	var expr filter.Expr
	if filterText != "" {
		var err error
		if expr, err = parseFilter(filterText, rt); err != nil {
			return nil, err
		}
	}
	var out []Agent
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		all, err := tx.ServiceAccounts(ctx, tenant, "")
		if err != nil {
			return err
		}
		var owners []string
		for _, a := range all {
			if a.State == scimtrail.AccountDeleted {
				continue
			}
			doc := storedAgentDoc(a)
			doc["id"] = a.ID
			if expr != nil && !filter.Match(expr, doc, rt) {
				continue
			}
			out = append(out, Agent{Account: a})
			owners = append(owners, a.OwnerID)
		}
		refs, err := tx.LookupResources(ctx, tenant, slices.Compact(slices.Sorted(slices.Values(owners))))
		display := map[string]string{}
		for _, r := range refs {
			display[r.Value] = r.Display
		}
		for i := range out {
			out[i].OwnerDisplay = display[out[i].Account.OwnerID]
		}
		return err
	})
	return out, err
}

// ReplaceAgent replaces an agent's writable attributes (PUT); leaving "active" out keeps
// the agent's state. See updateAgent.
func (s *Service) ReplaceAgent(ctx context.Context, o Origin, tenant, id string, body []byte, ifMatch string) (Agent, scimtrail.Receipt, error) {
	in, err := agentBody(body)
	if err != nil {
		return Agent{}, scimtrail.Receipt{}, err
	}
	return s.updateAgent(ctx, o, tenant, id, ifMatch, func(scimtrail.ServiceAccount) (agentInput, error) { return in, nil })
}

// PatchAgent applies a SCIM PATCH request to an agent. See updateAgent.
func (s *Service) PatchAgent(ctx context.Context, o Origin, tenant, id string, body []byte, ifMatch string) (Agent, scimtrail.Receipt, error) {
	ops, err := patch.ParseRequest(body)
	if err != nil {
		return Agent{}, scimtrail.Receipt{}, err
	}
	return s.updateAgent(ctx, o, tenant, id, ifMatch, func(cur scimtrail.ServiceAccount) (agentInput, error) {
		res, err := patch.Apply(schema.Agent(), storedAgentDoc(cur), ops)
		if err != nil {
			return agentInput{}, err
		}
		return agentInputOf(res.Doc)
	})
}

// updateAgent changes an agent to what next computes from the current account, in one
// transaction: a new name, description or owner is a service_account.updated entry (a new
// owner also clears an owner_deprovisioned flag); "active": false disables the account and
// revokes every usable key, an nhi.key_revoked entry each, caused by the
// service_account.disabled entry. Deactivation is final, as on the admin API: "active":
// true on a disabled agent is refused (scimType mutability). Returns ENOTFOUND,
// EPRECONDITION when ifMatch does not match, EINVALID for a bad body or owner.
func (s *Service) updateAgent(ctx context.Context, o Origin, tenant, id, ifMatch string, next func(scimtrail.ServiceAccount) (agentInput, error)) (Agent, scimtrail.Receipt, error) {
	var out Agent
	var rc scimtrail.Receipt
	err := s.store.Update(ctx, tenant, func(tx scimtrail.Tx) error {
		cur, err := loadAgent(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if err := agentIfMatch(ifMatch, cur.Account); err != nil {
			return err
		}
		in, err := next(cur.Account)
		if err != nil {
			return err
		}
		a, old := cur.Account, cur.Account
		if !in.activeSet {
			in.active = a.State == scimtrail.AccountActive
		}
		if in.active && a.State != scimtrail.AccountActive {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimMutability,
				"agent %q is deactivated, and deactivation is final (its keys were revoked); create a new agent instead", id)
		}
		out = cur
		if in.ownerID != a.OwnerID {
			owner, err := accountableOwner(ctx, tx, tenant, in.ownerID, "owners.value")
			if err != nil {
				return err
			}
			out.OwnerDisplay = owner.UserName
		}
		at := s.stamp()
		var entries []scimtrail.Entry
		if !in.active && a.State == scimtrail.AccountActive {
			a.State = scimtrail.AccountDisabled
			entries = append(entries, disabledEntry(a, "deactivated"))
		}
		var changes []scimtrail.Change
		for _, c := range []scimtrail.Change{{Path: "name", Old: a.Name, New: in.name}, {Path: "description", Old: a.Description, New: in.description}, {Path: "owner_id", Old: a.OwnerID, New: in.ownerID}} {
			if c.Old != c.New {
				changes = append(changes, c)
			}
		}
		if in.ownerID != a.OwnerID && a.Flag == FlagOwnerDeprovisioned {
			changes = append(changes, scimtrail.Change{Path: "flag", Old: a.Flag, New: ""})
			a.Flag = ""
		}
		a.Name, a.Description, a.OwnerID = in.name, in.description, in.ownerID
		if changes != nil {
			entries = append(entries, scimtrail.Entry{Action: "service_account.updated", Target: accountTarget(a), Changes: changes})
		}
		if len(entries) == 0 {
			rc, err = appendEntries(ctx, tx, tenant, o, at)
			return err
		}
		a.Updated = at
		if err := tx.UpdateServiceAccount(ctx, a); err != nil {
			return err
		}
		if a.State != old.State {
			revoked, err := revokeKeys(ctx, tx, a, at, "the service account was deactivated", causeFirst)
			if err != nil {
				return err
			}
			entries = append(entries, revoked...)
		}
		out.Account = a
		rc, err = appendEntries(ctx, tx, tenant, o, at, entries...)
		return err
	})
	return out, rc, err
}

// DeleteAgent deletes an agent's service account and revokes its keys
// (DeleteServiceAccount). Returns ENOTFOUND, EPRECONDITION when ifMatch does not match.
func (s *Service) DeleteAgent(ctx context.Context, o Origin, tenant, id, ifMatch string) (scimtrail.Receipt, error) {
	return s.deleteServiceAccount(ctx, o, tenant, id, func(a scimtrail.ServiceAccount) error { return agentIfMatch(ifMatch, a) })
}

// agentIfMatch checks an If-Match header against the agent's ETag; "" matches.
func agentIfMatch(ifMatch string, a scimtrail.ServiceAccount) error {
	if ifMatch != "" && !etagMatches(ifMatch, a.Updated.UnixMicro()) {
		return scimtrail.Errorf(scimtrail.EPRECONDITION, "agent %q has changed: its version is %s", a.ID, Agent{Account: a}.ETag())
	}
	return nil
}
