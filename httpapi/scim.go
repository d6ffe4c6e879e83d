package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// kind is one SCIM resource type as the handlers need it: its stored type, its schema (for
// projection) and its endpoint.
type kind struct {
	typ      scimtrail.ResourceType
	rt       *schema.ResourceType
	endpoint string // "Users"
}

var (
	users  = kind{scimtrail.UserResource, schema.User(), "Users"}
	groups = kind{scimtrail.GroupResource, schema.Group(), "Groups"}
)

func (h *handler) createUser(w http.ResponseWriter, r *http.Request, c call) error {
	return h.create(w, r, c, users)
}
func (h *handler) listUsers(w http.ResponseWriter, r *http.Request, c call) error {
	return h.list(w, r, c, users)
}
func (h *handler) searchUsers(w http.ResponseWriter, r *http.Request, c call) error {
	return h.search(w, r, c, users)
}
func (h *handler) getUser(w http.ResponseWriter, r *http.Request, c call) error {
	return h.get(w, r, c, users)
}
func (h *handler) replaceUser(w http.ResponseWriter, r *http.Request, c call) error {
	return h.replace(w, r, c, users)
}
func (h *handler) patchUser(w http.ResponseWriter, r *http.Request, c call) error {
	return h.patch(w, r, c, users)
}
func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request, c call) error {
	return h.delete(w, r, c, users)
}
func (h *handler) createGroup(w http.ResponseWriter, r *http.Request, c call) error {
	return h.create(w, r, c, groups)
}
func (h *handler) listGroups(w http.ResponseWriter, r *http.Request, c call) error {
	return h.list(w, r, c, groups)
}
func (h *handler) searchGroups(w http.ResponseWriter, r *http.Request, c call) error {
	return h.search(w, r, c, groups)
}
func (h *handler) getGroup(w http.ResponseWriter, r *http.Request, c call) error {
	return h.get(w, r, c, groups)
}
func (h *handler) replaceGroup(w http.ResponseWriter, r *http.Request, c call) error {
	return h.replace(w, r, c, groups)
}
func (h *handler) patchGroup(w http.ResponseWriter, r *http.Request, c call) error {
	return h.patch(w, r, c, groups)
}
func (h *handler) deleteGroup(w http.ResponseWriter, r *http.Request, c call) error {
	return h.delete(w, r, c, groups)
}

func (h *handler) create(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	v, receipt, err := h.svc.CreateResource(r.Context(), c.origin, c.tenant, k.typ, body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.scimBase(r, c.tenant)+"/"+k.endpoint+"/"+url.PathEscape(v.Resource.ID))
	return h.writeResource(w, r, c, k, v, &receipt, http.StatusCreated)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	var v service.View
	var err error
	if c.user != nil && k.typ == scimtrail.UserResource {
		v, err = c.user.View, c.user.Err // read with the token, authorized since
	} else {
		v, err = h.svc.Resource(r.Context(), c.tenant, k.typ, r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, v.ETag()) {
		w.Header().Set("ETag", v.ETag())
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return h.writeResource(w, r, c, k, v, nil, http.StatusOK)
}

func (h *handler) replace(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	v, receipt, err := h.svc.ReplaceResource(writeContext(r, k), c.origin, c.tenant, k.typ, r.PathValue("id"), body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeResource(w, r, c, k, v, &receipt, http.StatusOK)
}

// patch answers 200 with the resource (RFC 7644 §3.5.2 allows 204 too), because IdPs and
// people alike want to see what the patch did.
func (h *handler) patch(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	v, receipt, err := h.svc.PatchResource(writeContext(r, k), c.origin, c.tenant, k.typ, r.PathValue("id"), body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.writeResource(w, r, c, k, v, &receipt, http.StatusOK)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	receipt, err := h.svc.DeleteResource(r.Context(), c.origin, c.tenant, k.typ, r.PathValue("id"), r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	setAuditSeq(w, receipt)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	qv := r.URL.Query()
	q := service.ListQuery{
		Filter:    qv.Get("filter"),
		SortBy:    qv.Get("sortBy"),
		SortOrder: qv.Get("sortOrder"),
		Count:     -1,
	}
	var err error
	// RFC 9865 §2: "?cursor" or "?cursor=" asks for the first page of cursor pagination.
	if qv.Has("cursor") {
		cursor := qv.Get("cursor")
		q.Cursor = &cursor
		if qv.Has("startIndex") {
			return bothPaginations()
		}
	}
	if s := qv.Get("startIndex"); s != "" {
		if q.StartIndex, err = intParam("startIndex", s); err != nil {
			return err
		}
	}
	if s := qv.Get("count"); s != "" {
		if q.Count, err = intParam("count", s); err != nil {
			return err
		}
		// RFC 7644 §3.4.2.4: a negative count is 0; -1 would mean "not given" to the service.
		q.Count = max(q.Count, 0)
	}
	return h.writeList(w, r, c, k, q, splitAttrs(qv.Get("attributes")), splitAttrs(qv.Get("excludedAttributes")))
}

// searchRequest is the body of POST …/.search (RFC 7644 §3.4.3). encoding/json matches
// names case-insensitively, as SCIM wants.
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Cursor             *string  `json:"cursor"` // RFC 9865 §3
}

func bothPaginations() error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
		"use either startIndex (index pagination) or cursor (cursor pagination, RFC 9865), not both")
}

func (h *handler) search(w http.ResponseWriter, r *http.Request, c call, k kind) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	var sr searchRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		return jsonError(err)
	}
	// The schemas attribute is optional in practice (several IdPs omit it), but when present
	// it must say what the body is.
	if sr.Schemas != nil && !containsFold(sr.Schemas, schema.SearchRequestSchema) {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
			"a search request's schemas must contain %q", schema.SearchRequestSchema)
	}
	q := service.ListQuery{Filter: sr.Filter, SortBy: sr.SortBy, SortOrder: sr.SortOrder, Count: -1, Cursor: sr.Cursor}
	if sr.Cursor != nil && sr.StartIndex != nil {
		return bothPaginations()
	}
	if sr.StartIndex != nil {
		q.StartIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		q.Count = max(*sr.Count, 0)
	}
	return h.writeList(w, r, c, k, q, sr.Attributes, sr.ExcludedAttributes)
}

func (h *handler) writeList(w http.ResponseWriter, r *http.Request, c call, k kind, q service.ListQuery, attrs, excluded []string) error {
	switch q.SortOrder {
	case "", "ascending", "descending":
	default:
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
			"sortOrder must be \"ascending\" or \"descending\", not %q", q.SortOrder)
	}
	q.Attributes, q.ExcludedAttributes = attrs, excluded
	rt, err := h.svc.ResourceType(r.Context(), c.tenant, k.typ)
	if err != nil {
		return err
	}
	base := h.scimBase(r, c.tenant)
	// Documents the render cache holds are taken as they are; the list reads full rows
	// only for the others.
	q.Rendered = func(v service.View) ([]byte, bool) { return h.renders.cached(rt, v, base, attrs, excluded) }
	res, err := h.svc.ListResources(r.Context(), c.tenant, k.typ, q)
	if err != nil {
		return err
	}
	docs := make([]json.RawMessage, len(res.Views))
	for i, v := range res.Views {
		if v.Rendered != nil {
			docs[i] = v.Rendered
		} else if docs[i], err = h.renders.render(rt, v, base, attrs, excluded); err != nil {
			return err
		}
	}
	writeBytes(w, scimContentType, http.StatusOK, pageResponse(res, q, docs))
	return nil
}

// pageResponse is the ListResponse envelope of one page (RFC 7644 §3.4.2), assembled
// around the already encoded documents: handing them to encoding/json as RawMessage
// would re-scan every byte of every document.
func pageResponse(res service.ListResult, q service.ListQuery, docs []json.RawMessage) []byte {
	var b bytes.Buffer
	size := 256 + len(res.NextCursor) + len(res.PreviousCursor)
	for _, d := range docs {
		size += len(d) + 1
	}
	b.Grow(size) // one allocation, not a doubling per few documents
	b.WriteString(`{"schemas":["` + schema.ListResponseSchema + `"],"totalResults":`)
	b.WriteString(strconv.Itoa(res.Total))
	b.WriteString(`,"itemsPerPage":`)
	b.WriteString(strconv.Itoa(len(docs)))
	// A cursor page has no index (RFC 9865 §2); its position is in the cursors, and
	// nextCursor is left out exactly on the last page.
	if q.Cursor == nil {
		b.WriteString(`,"startIndex":`)
		b.WriteString(strconv.Itoa(max(res.StartIndex, 1)))
	}
	for _, c := range []struct{ name, value string }{{"nextCursor", res.NextCursor}, {"previousCursor", res.PreviousCursor}} {
		if c.value != "" {
			v, _ := json.Marshal(c.value)
			b.WriteString(`,"` + c.name + `":`)
			b.Write(v)
		}
	}
	b.WriteString(`,"Resources":[`)
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(d)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// writeResource renders v, applies the request's attributes/excludedAttributes (on write
// responses too, RFC 7644 §3.9), and writes it with its ETag and, for writes, the ledger seq.
func (h *handler) writeResource(w http.ResponseWriter, r *http.Request, c call, k kind, v service.View, receipt *scimtrail.Receipt, status int) error {
	qv := r.URL.Query()
	// The tenant's own schema, with its custom extensions, decides what returned=never
	// and returned=request hide.
	rt, err := h.svc.ResourceType(r.Context(), c.tenant, k.typ)
	if err != nil {
		return err
	}
	doc, err := h.renders.render(rt, v, h.scimBase(r, c.tenant), splitAttrs(qv.Get("attributes")), splitAttrs(qv.Get("excludedAttributes")))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", v.ETag())
	if receipt != nil {
		setAuditSeq(w, *receipt)
	}
	writeBytes(w, scimContentType, status, append(doc[:len(doc):len(doc)], '\n'))
	return nil
}

// setAuditSeq tells the client which ledger entry recorded its change (DESIGN.md §2).
func setAuditSeq(w http.ResponseWriter, receipt scimtrail.Receipt) {
	w.Header().Set("Scimtrail-Audit-Seq", strconv.FormatInt(receipt.Seq, 10))
	if rw, ok := w.(*receiptWriter); ok {
		rw.receipt = receipt
	}
}

// scimBase is the tenant's SCIM base URL, the prefix of meta.location, Location and $ref.
func (h *handler) scimBase(r *http.Request, tenant string) string {
	return h.origin(r) + "/scim/v2/" + url.PathEscape(tenant)
}

// origin is PublicURL, or the scheme and host the client used.
func (h *handler) origin(r *http.Request) string {
	if h.publicURL != "" {
		return strings.TrimRight(h.publicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// readJSONBody reads a SCIM request body. Both application/scim+json and application/json
// are accepted (RFC 7644 §3.1), and so is a body without a Content-Type, which some IdPs
// send; any other media type is a 400 invalidSyntax rather than a 415, because RFC 7644
// §3.12 defines no 415 and clients handle SCIM 400s. The bytes must be one JSON value:
// everything further is the service's to judge.
func readJSONBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
				"the Content-Type must be application/scim+json or application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError(err)
	}
	if !json.Valid(body) {
		return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
			"the request body is not valid JSON")
	}
	return body, nil
}

// jsonError describes a decoding failure in the user's terms: which field had the wrong
// type, or that the body is not JSON.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return &scimtrail.Error{Code: scimtrail.EINVALID, ScimType: scimtrail.ScimInvalidValue,
			Message: field + " must be a JSON " + jsonTypeName(typeErr.Type.Kind().String()) + ", not " + typeErr.Value, Err: err}
	}
	return &scimtrail.Error{Code: scimtrail.EINVALID, ScimType: scimtrail.ScimInvalidSyntax,
		Message: "the request body is not valid JSON: " + err.Error(), Err: err}
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	case "ptr":
		return "number"
	}
	return "object"
}

func intParam(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
			"%s must be an integer, not %q", name, s)
	}
	return n, nil
}

// splitAttrs splits a comma-separated attributes or excludedAttributes parameter.
// writeContext is the context of a PUT or PATCH: a group write whose response leaves the
// members out (excludedAttributes=members) reads none for it.
func writeContext(r *http.Request, k kind) context.Context {
	qv := r.URL.Query()
	if k.typ == scimtrail.GroupResource && service.MembersExcluded(splitAttrs(qv.Get("attributes")), splitAttrs(qv.Get("excludedAttributes"))) {
		return service.WithoutMembers(r.Context())
	}
	return r.Context()
}

func splitAttrs(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// etagListMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2): "*", or
// any listed tag whose opaque part equals the current one.
func etagListMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}
