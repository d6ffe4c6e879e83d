package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/scim/schema"
	"github.com/scimtrail/scimtrail/service"
)

// bulkMaxPayload is the bulk.maxPayloadSize the server really enforces: the smaller of
// the service's bulk limit and the server's limit on every body.
func (h *handler) bulkMaxPayload() int64 {
	return min(h.maxBody, service.MaxBulkPayload)
}

// bulkRequest is the body of POST /Bulk (RFC 7644 §3.7.1).
type bulkRequest struct {
	Schemas      []string                `json:"schemas"`
	FailOnErrors *int                    `json:"failOnErrors"`
	Operations   []service.BulkOperation `json:"Operations"`
}

// bulkOpResponse is one element of a BulkResponse's Operations (RFC 7644 §3.7.3).
type bulkOpResponse struct {
	Method   string     `json:"method"`
	BulkID   string     `json:"bulkId,omitempty"`
	Version  string     `json:"version,omitempty"`
	Location string     `json:"location,omitempty"`
	Status   string     `json:"status"`
	Response *scimError `json:"response,omitempty"`
}

// bulk answers POST /Bulk. The limits are checked before any operation runs: a body over
// maxPayloadSize or more than maxOperations operations is a 413 (RFC 7644 §3.7.4), and a
// malformed request a 400; otherwise the answer is 200 with each performed operation's
// own outcome.
func (h *handler) bulk(w http.ResponseWriter, r *http.Request, c call) error {
	limit := h.bulkMaxPayload()
	tooLarge := scimtrail.Errorf(scimtrail.ETOOLARGE,
		"the bulk request is larger than maxPayloadSize (%d bytes)", limit)
	if r.ContentLength > limit {
		return tooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	body, err := readJSONBody(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || scimtrail.ErrorCode(err) == scimtrail.ETOOLARGE {
			return tooLarge
		}
		return err
	}
	var br bulkRequest
	if err := json.Unmarshal(body, &br); err != nil {
		return jsonError(err)
	}
	if !containsFold(br.Schemas, schema.BulkRequestSchema) {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax,
			"a bulk request's schemas must contain %q", schema.BulkRequestSchema)
	}
	if br.Operations == nil {
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "a bulk request needs Operations")
	}
	req := service.BulkRequest{Operations: br.Operations}
	if br.FailOnErrors != nil {
		if *br.FailOnErrors < 1 {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue, "failOnErrors must be at least 1")
		}
		req.FailOnErrors = *br.FailOnErrors
	}
	results, err := h.svc.Bulk(r.Context(), c.origin, c.tenant, req)
	if err != nil {
		return err
	}
	base := h.scimBase(r, c.tenant)
	out := make([]bulkOpResponse, len(results))
	for i, res := range results {
		o := bulkOpResponse{Method: res.Method, BulkID: res.BulkID}
		if res.Err != nil {
			e := h.bulkError(r, res.Err)
			o.Status, o.Response = e.Status, &e
		} else {
			status := http.StatusOK
			switch res.Method {
			case "POST":
				status = http.StatusCreated
			case "DELETE":
				status = http.StatusNoContent
			}
			o.Status, o.Version = strconv.Itoa(status), res.Version
			if res.Method != "DELETE" {
				o.Location = base + "/" + endpointOf(res.Type) + "/" + url.PathEscape(res.ID)
			}
		}
		out[i] = o
	}
	writeSCIM(w, http.StatusOK, map[string]any{
		"schemas":    []string{schema.BulkResponseSchema},
		"Operations": out,
	})
	return nil
}

// bulkError is one failed operation's SCIM Error, mapped as writeError maps a whole
// request's: internal errors are logged and not shown.
func (h *handler) bulkError(r *http.Request, err error) scimError {
	status := statusOf(err)
	msg, scimType := scimtrail.ErrorMessage(err), scimtrail.ErrorScimType(err)
	if status == http.StatusInternalServerError {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "bulk operation failed",
			slog.String("request_id", requestIDFrom(r.Context())), slog.String("error", err.Error()))
		msg, scimType = "internal error", ""
	}
	return scimError{Schemas: []string{schema.ErrorSchema}, Status: strconv.Itoa(status), ScimType: scimType, Detail: msg}
}

func endpointOf(typ scimtrail.ResourceType) string {
	if typ == scimtrail.GroupResource {
		return groups.endpoint
	}
	return users.endpoint
}
