package httpapi

import (
	"net/http"
	"net/url"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// The SCIM Agent resource type (draft-wzdk-scim-agent-resource-00) at /scim/v2/{t}/Agents:
// the tenant's service accounts, the same rows as /api/v1/tenants/{t}/service-accounts.

var agentType = schema.Agent()

// writeAgent writes one agent with its ETag and, for writes, the ledger seq; attributes and
// excludedAttributes apply as on Users and Groups.
func (h *handler) writeAgent(w http.ResponseWriter, r *http.Request, c call, a service.Agent, receipt *scimtrail.Receipt, status int) error {
	qv := r.URL.Query()
	doc := agentType.Project(service.AgentDocument(a, h.scimBase(r, c.tenant)),
		splitAttrs(qv.Get("attributes")), splitAttrs(qv.Get("excludedAttributes")))
	w.Header().Set("ETag", a.ETag())
	if receipt != nil {
		setAuditSeq(w, *receipt)
	}
	writeSCIM(w, status, doc)
	return nil
}

func (h *handler) createAgent(w http.ResponseWriter, r *http.Request, c call) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	a, receipt, err := h.svc.CreateAgent(r.Context(), c.origin, c.tenant, body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.scimBase(r, c.tenant)+"/Agents/"+url.PathEscape(a.Account.ID))
	return h.writeAgent(w, r, c, a, &receipt, http.StatusCreated)
}

func (h *handler) getAgent(w http.ResponseWriter, r *http.Request, c call) error {
	a, err := h.svc.Agent(r.Context(), c.tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, a.ETag()) {
		w.Header().Set("ETag", a.ETag())
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return h.writeAgent(w, r, c, a, nil, http.StatusOK)
}

// listAgents answers GET /Agents with filter, startIndex and count (index pagination; a
// tenant has few agents, so there is no cursor and no sorting beyond id order).
func (h *handler) listAgents(w http.ResponseWriter, r *http.Request, c call) error {
	qv := r.URL.Query()
	start, count := 1, service.DefaultCount
	var err error
	if s := qv.Get("startIndex"); s != "" {
		if start, err = intParam("startIndex", s); err != nil {
			return err
		}
		start = max(start, 1) // RFC 7644 §3.4.2.4: below 1 is 1
	}
	if s := qv.Get("count"); s != "" {
		if count, err = intParam("count", s); err != nil {
			return err
		}
		count = min(max(count, 0), maxResults)
	}
	all, err := h.svc.Agents(r.Context(), c.tenant, qv.Get("filter"))
	if err != nil {
		return err
	}
	page := all[min(start-1, len(all)):]
	page = page[:min(count, len(page))]
	base := h.scimBase(r, c.tenant)
	attrs, excluded := splitAttrs(qv.Get("attributes")), splitAttrs(qv.Get("excludedAttributes"))
	docs := make([]any, len(page))
	for i, a := range page {
		docs[i] = agentType.Project(service.AgentDocument(a, base), attrs, excluded)
	}
	writeSCIM(w, http.StatusOK, map[string]any{
		"schemas":      []string{schema.ListResponseSchema},
		"totalResults": len(all),
		"startIndex":   start,
		"itemsPerPage": len(docs),
		"Resources":    docs,
	})
	return nil
}

func (h *handler) replaceAgent(w http.ResponseWriter, r *http.Request, c call) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	a, receipt, err := h.svc.ReplaceAgent(r.Context(), c.origin, c.tenant, r.PathValue("id"), body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeAgent(w, r, c, a, &receipt, http.StatusOK)
}

func (h *handler) patchAgent(w http.ResponseWriter, r *http.Request, c call) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	a, receipt, err := h.svc.PatchAgent(r.Context(), c.origin, c.tenant, r.PathValue("id"), body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeAgent(w, r, c, a, &receipt, http.StatusOK)
}

func (h *handler) deleteAgent(w http.ResponseWriter, r *http.Request, c call) error {
	receipt, err := h.svc.DeleteAgent(r.Context(), c.origin, c.tenant, r.PathValue("id"), r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
