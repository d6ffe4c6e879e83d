package httpapi

import (
	"net/http"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// maxResults is the most resources one list or search page returns; the discovery document
// advertises it.
const maxResults = 1000

// capabilities is what discovery advertises, and it must stay true: PATCH, bulk, filters,
// sorting and ETags work; changePassword does not exist. Bulk's limits are the ones the
// bulk handler enforces (scim_bulk.go).
func (h *handler) capabilities() schema.Capabilities {
	return schema.Capabilities{
		Patch:              true,
		Bulk:               true,
		BulkMaxOperations:  service.MaxBulkOperations,
		BulkMaxPayloadSize: int(h.bulkMaxPayload()),
		Filter:             true,
		MaxResults:         maxResults,
		Sort:               true,
		ETag:               true,
		// Index pagination stays the default so that clients written before RFC 9865
		// see no change (RFC 9865 §2.3, backwards compatibility).
		Pagination: &schema.Pagination{
			Cursor: true, Index: true, DefaultPaginationMethod: "index",
			DefaultPageSize: service.DefaultCount, MaxPageSize: maxResults,
			CursorTimeout: int(service.CursorTimeout.Seconds()),
		},
	}
}

// resourceTypesServed lists the tenant's resource types, with its custom extensions, in
// the order discovery lists them.
func (h *handler) resourceTypesServed(r *http.Request, tenant string) ([]*schema.ResourceType, error) {
	var out []*schema.ResourceType
	for _, typ := range []scimtrail.ResourceType{scimtrail.UserResource, scimtrail.GroupResource} {
		rt, err := h.svc.ResourceType(r.Context(), tenant, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	// Agents have no custom extensions: their attributes are the service account's.
	return append(out, agentType), nil
}

func (h *handler) serviceProviderConfig(w http.ResponseWriter, r *http.Request, c call) error {
	writeSCIM(w, http.StatusOK, schema.ServiceProviderConfig(h.scimBase(r, c.tenant), h.capabilities()))
	return nil
}

func (h *handler) resourceTypes(w http.ResponseWriter, r *http.Request, c call) error {
	served, err := h.resourceTypesServed(r, c.tenant)
	if err != nil {
		return err
	}
	base := h.scimBase(r, c.tenant)
	docs := make([]any, len(served))
	for i, rt := range served {
		docs[i] = rt.Document(base)
	}
	writeSCIM(w, http.StatusOK, listResponse(docs))
	return nil
}

func (h *handler) resourceType(w http.ResponseWriter, r *http.Request, c call) error {
	served, err := h.resourceTypesServed(r, c.tenant)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	for _, rt := range served {
		if strings.EqualFold(rt.ID, name) {
			writeSCIM(w, http.StatusOK, rt.Document(h.scimBase(r, c.tenant)))
			return nil
		}
	}
	return scimtrail.Errorf(scimtrail.ENOTFOUND, "no resource type %q", name)
}

// schemasServed lists each of the tenant's schemas once, core schemas before their
// extensions.
func (h *handler) schemasServed(r *http.Request, tenant string) ([]*schema.Schema, error) {
	served, err := h.resourceTypesServed(r, tenant)
	if err != nil {
		return nil, err
	}
	var out []*schema.Schema
	seen := map[string]bool{}
	add := func(s *schema.Schema) {
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	for _, rt := range served {
		add(rt.Schema)
	}
	for _, rt := range served {
		for _, e := range rt.Extensions {
			add(e.Schema)
		}
	}
	return out, nil
}

func (h *handler) schemas(w http.ResponseWriter, r *http.Request, c call) error {
	served, err := h.schemasServed(r, c.tenant)
	if err != nil {
		return err
	}
	base := h.scimBase(r, c.tenant)
	var docs []any
	for _, s := range served {
		docs = append(docs, s.Document(base))
	}
	writeSCIM(w, http.StatusOK, listResponse(docs))
	return nil
}

func (h *handler) schema(w http.ResponseWriter, r *http.Request, c call) error {
	served, err := h.schemasServed(r, c.tenant)
	if err != nil {
		return err
	}
	urn := r.PathValue("urn")
	for _, s := range served {
		if strings.EqualFold(s.ID, urn) {
			writeSCIM(w, http.StatusOK, s.Document(h.scimBase(r, c.tenant)))
			return nil
		}
	}
	return scimtrail.Errorf(scimtrail.ENOTFOUND, "no schema %q", urn)
}

func listResponse(docs []any) map[string]any {
	if docs == nil {
		docs = []any{}
	}
	return map[string]any{
		"schemas":      []string{schema.ListResponseSchema},
		"totalResults": len(docs),
		"startIndex":   1,
		"itemsPerPage": len(docs),
		"Resources":    docs,
	}
}
