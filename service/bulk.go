package service

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/scimtrail/scimtrail"
)

// Bulk limits, advertised in ServiceProviderConfig (RFC 7644 §3.7.4). MaxBulkPayload is
// the most the HTTP layer reads of a bulk request body.
const (
	MaxBulkOperations = 1000
	MaxBulkPayload    = 1 << 20
)

// BulkOperation is one operation of a BulkRequest (RFC 7644 §3.7.1).
type BulkOperation struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId"`
	Version string          `json:"version"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data"`
}

// BulkRequest is a parsed BulkRequest message. FailOnErrors ≤ 0 processes every
// operation whatever fails.
type BulkRequest struct {
	FailOnErrors int
	Operations   []BulkOperation
}

// BulkResult is the outcome of one operation that was performed: the resource it
// created or changed (empty ID on DELETE or failure) and the error that stopped it.
type BulkResult struct {
	Index   int // position in the request
	Method  string
	BulkID  string
	Type    scimtrail.ResourceType
	ID      string
	Version string // the resource's ETag after the operation
	Err     error
}

const bulkPrefix = "bulkId:"

// bulkOp is an operation with what ordering needs: its resource type, id (or bulkId
// reference) from the path, and the bulkIds its path and data refer to.
type bulkOp struct {
	BulkOperation
	index int
	typ   scimtrail.ResourceType
	id    string // from the path; may be "bulkId:x"
	data  any
	refs  []string
	err   error // a problem found before anything runs
}

// Bulk performs a bulk request (RFC 7644 §3.7). Every operation goes through the same
// method a single request would use, in its own transaction, so one that fails leaves
// nothing behind and never affects the others. Operations run in request order, except
// that an operation referring to "bulkId:x" runs after the operation that creates x;
// references that form a cycle fail with 409, as §3.7.2 allows. Processing stops once
// FailOnErrors operations have failed. Returns ETOOLARGE when the request has more than
// MaxBulkOperations operations, EINVALID when two operations share a bulkId; nothing has
// run then.
func (s *Service) Bulk(ctx context.Context, o Origin, tenant string, req BulkRequest) ([]BulkResult, error) {
	if n := len(req.Operations); n > MaxBulkOperations {
		return nil, scimtrail.ScimErrorf(scimtrail.ETOOLARGE, "",
			"the bulk request has %d operations; maxOperations is %d", n, MaxBulkOperations)
	}
	ops := make([]*bulkOp, len(req.Operations))
	defined := map[string]int{} // bulkId → index of the POST that defines it
	for i, in := range req.Operations {
		op := &bulkOp{BulkOperation: in, index: i}
		op.Method = strings.ToUpper(in.Method)
		op.err = op.parse()
		if in.BulkID != "" {
			if _, dup := defined[in.BulkID]; dup {
				return nil, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
					"bulkId %q is used by more than one operation", in.BulkID)
			}
			if op.Method == "POST" {
				defined[in.BulkID] = i
			}
		}
		ops[i] = op
	}
	for _, op := range ops {
		if op.err != nil {
			continue
		}
		for _, ref := range op.refs {
			if _, ok := defined[ref]; !ok {
				op.err = scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidValue,
					"bulkId %q is not the bulkId of any POST in this request", ref)
				break
			}
		}
	}

	created := map[string]string{} // bulkId → id of the resource its POST created
	failedIDs := map[string]bool{} // bulkIds whose POST failed
	done := make([]bool, len(ops))
	results := make([]*BulkResult, len(ops))
	failures := 0
	stop := func() bool { return req.FailOnErrors > 0 && failures >= req.FailOnErrors }
	finish := func(op *bulkOp, r BulkResult) {
		done[op.index] = true
		r.Index, r.Method, r.BulkID = op.index, op.Method, op.BulkID
		if r.Type == "" {
			r.Type = op.typ
		}
		results[op.index] = &r
		if r.Err != nil {
			failures++
			if op.Method == "POST" && op.BulkID != "" {
				failedIDs[op.BulkID] = true
			}
		} else if op.Method == "POST" && op.BulkID != "" {
			created[op.BulkID] = r.ID
		}
	}
	for !stop() {
		// The first operation, in request order, whose references are all settled.
		var next *bulkOp
		for _, op := range ops {
			if done[op.index] {
				continue
			}
			ready := true
			for _, ref := range op.refs {
				if op.err == nil && !done[defined[ref]] {
					ready = false
					break
				}
			}
			if ready {
				next = op
				break
			}
		}
		if next == nil {
			break
		}
		finish(next, s.bulkRun(ctx, o, tenant, next, created, failedIDs))
	}
	// What is left waits on itself through a cycle of references.
	for _, op := range ops {
		if !done[op.index] && !stop() {
			finish(op, BulkResult{Err: scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimInvalidValue,
				"the operation's bulkId references form a cycle (%s); create the resources first and link them with PATCH", strings.Join(op.refs, ", "))})
		}
	}
	out := make([]BulkResult, 0, len(ops))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// parse checks the operation's method and path and collects its bulkId references.
func (op *bulkOp) parse() error {
	p := strings.TrimPrefix(op.Path, "/")
	endpoint, id, hasID := strings.Cut(p, "/")
	switch {
	case strings.EqualFold(endpoint, "Users"):
		op.typ = scimtrail.UserResource
	case strings.EqualFold(endpoint, "Groups"):
		op.typ = scimtrail.GroupResource
	default:
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidPath,
			"path %q is not /Users or /Groups, with an id unless the method is POST", op.Path)
	}
	switch op.Method {
	case "POST":
		if hasID {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidPath, "a bulk POST's path is /Users or /Groups, not %q", op.Path)
		}
		if op.BulkID == "" {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "a bulk POST needs a bulkId (RFC 7644 §3.7)")
		}
	case "PUT", "PATCH", "DELETE":
		if !hasID || id == "" || strings.Contains(id, "/") {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidPath, "a bulk %s's path is /Users/{id} or /Groups/{id}, not %q", op.Method, op.Path)
		}
		op.id = id
		if ref, ok := strings.CutPrefix(id, bulkPrefix); ok {
			op.refs = append(op.refs, ref)
		}
	default:
		return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "method %q is not POST, PUT, PATCH or DELETE", op.Method)
	}
	if op.Method != "DELETE" {
		if len(op.Data) == 0 || string(op.Data) == "null" {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "a bulk %s needs data", op.Method)
		}
		dec := json.NewDecoder(bytes.NewReader(op.Data))
		dec.UseNumber()
		if err := dec.Decode(&op.data); err != nil {
			return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidSyntax, "the operation's data is not valid JSON")
		}
		collectRefs(op.data, &op.refs)
	}
	return nil
}

// collectRefs finds every string value "bulkId:x" in v.
func collectRefs(v any, refs *[]string) {
	switch t := v.(type) {
	case string:
		if ref, ok := strings.CutPrefix(t, bulkPrefix); ok {
			*refs = append(*refs, ref)
		}
	case []any:
		for _, e := range t {
			collectRefs(e, refs)
		}
	case map[string]any:
		for _, e := range t {
			collectRefs(e, refs)
		}
	}
}

// substitute replaces "bulkId:x" string values with the id created for x.
func substitute(v any, created map[string]string) any {
	switch t := v.(type) {
	case string:
		if ref, ok := strings.CutPrefix(t, bulkPrefix); ok {
			if id, ok := created[ref]; ok {
				return id
			}
		}
		return t
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = substitute(e, created)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = substitute(e, created)
		}
		return out
	}
	return v
}

// bulkRun performs one operation through the single-request service method.
func (s *Service) bulkRun(ctx context.Context, o Origin, tenant string, op *bulkOp, created map[string]string, failed map[string]bool) BulkResult {
	if op.err != nil {
		return BulkResult{Err: op.err}
	}
	for _, ref := range op.refs {
		if failed[ref] {
			return BulkResult{Err: scimtrail.ScimErrorf(scimtrail.ECONFLICT, scimtrail.ScimInvalidValue,
				"bulkId %q refers to an operation that failed", ref)}
		}
	}
	id := op.id
	if ref, ok := strings.CutPrefix(id, bulkPrefix); ok {
		id = created[ref]
	}
	var body []byte
	if op.data != nil {
		var err error
		if body, err = json.Marshal(substitute(op.data, created)); err != nil {
			return BulkResult{Err: err}
		}
	}
	var v View
	var err error
	switch op.Method {
	case "POST":
		v, _, err = s.CreateResource(ctx, o, tenant, op.typ, body)
	case "PUT":
		v, _, err = s.ReplaceResource(ctx, o, tenant, op.typ, id, body, op.Version)
	case "PATCH":
		v, _, err = s.PatchResource(ctx, o, tenant, op.typ, id, body, op.Version)
	case "DELETE":
		_, err = s.DeleteResource(ctx, o, tenant, op.typ, id, op.Version)
		return BulkResult{ID: id, Err: err}
	}
	if err != nil {
		return BulkResult{ID: id, Err: err}
	}
	return BulkResult{ID: v.Resource.ID, Version: v.ETag()}
}
