package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// searchAll answers POST /.search at the tenant's SCIM root (RFC 7644 §3.4.3): Users and
// Groups in one ListResponse, each rendered and projected with its own schema.
func (h *handler) searchAll(w http.ResponseWriter, r *http.Request, c call) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	var sr searchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		return jsonError(err)
	}
	if sr.Schemas != nil && !containsFold(sr.Schemas, schema.SearchRequestSchema) {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
			"a search request's schemas must contain %q", schema.SearchRequestSchema)
	}
	q := service.ListQuery{Filter: sr.Filter, SortBy: sr.SortBy, SortOrder: sr.SortOrder, Count: -1, Cursor: sr.Cursor,
		Attributes: sr.Attributes, ExcludedAttributes: sr.ExcludedAttributes}
	if sr.StartIndex != nil {
		q.StartIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		q.Count = max(*sr.Count, 0)
	}
	res, err := h.svc.SearchAll(r.Context(), c.tenant, q)
	if err != nil {
		return err
	}
	base := h.scimBase(r, c.tenant)
	docs := make([]json.RawMessage, len(res.Views))
	for i, v := range res.Views {
		rt, err := h.svc.ResourceType(r.Context(), c.tenant, v.Resource.Type)
		if err != nil {
			return err
		}
		if docs[i], err = h.renders.render(rt, v, base, sr.Attributes, sr.ExcludedAttributes); err != nil {
			return err
		}
	}
	writeBytes(w, scimContentType, http.StatusOK, pageResponse(res, q, docs))
	return nil
}

// me answers every request to /Me (RFC 7644 §3.11) with 501: scimtrail's tokens belong to
// an IdP connection or an administrator, never to a SCIM User, so there is no subject for
// /Me to stand for.
func (h *handler) me(w http.ResponseWriter, r *http.Request, c call) error {
	return scimtrail.ScimErrorf(scimtrail.ENOTIMPLEMENTED, "",
		"/Me is not supported: scimtrail tokens are issued to an IdP connection, not to a SCIM User, so they have no subject")
}
