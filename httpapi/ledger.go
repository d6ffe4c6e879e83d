package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
	"github.com/scimtrail/scimtrail/service"
)

// auditRoutes is the audit log: entries, checkpoints, proofs, the C2SP tlog-tiles read side,
// and the checkpoint-signing public keys. Reads by auditor tokens are themselves logged
// (audit.read, at most once an hour per token and tenant; see service.NoteAuditRead).
func (h *handler) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/audit", h.guard(areaAudit, h.logged("entries", h.auditEntries)))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/audit/checkpoint", h.guard(areaAudit, h.logged("checkpoint", h.auditCheckpoint)))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/audit/proof/inclusion", h.guard(areaAudit, h.logged("inclusion proof", h.inclusionProof)))
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/audit/proof/consistency", h.guard(areaAudit, h.logged("consistency proof", h.consistencyProof)))
	mux.HandleFunc("GET /logs/{tenant}/checkpoint", h.guard(areaAudit, h.logged("tlog checkpoint", h.logCheckpoint)))
	mux.HandleFunc("GET /logs/{tenant}/tile/{path...}", h.guard(areaAudit, h.logged("tlog tiles", h.logTile)))
	// The public keys are not secret, and an auditor must be able to fetch them without
	// holding any token of ours: no authentication.
	mux.HandleFunc("GET /api/v1/audit/keys", h.auditKeys)
	// Retention is tenant administration, not an auditor's business.
	mux.HandleFunc("GET /api/v1/tenants/{tenant}/retention", h.guard(areaTenantAdmin, h.getRetention))
	mux.HandleFunc("PUT /api/v1/tenants/{tenant}/retention", h.guard(areaTenantAdmin, h.putRetention))
}

// retentionJSON is a tenant's retention policy: "retention" as "400d" or a Go duration, ""
// to keep entry bodies forever; pruned_to is the last seq whose body was dropped (read-only).
type retentionJSON struct {
	Retention string `json:"retention"`
	LegalHold bool   `json:"legal_hold"`
	PrunedTo  int64  `json:"pruned_to"`
}

func toRetentionJSON(r scimtrail.Retention) retentionJSON {
	return retentionJSON{Retention: service.FormatRetention(r.Period), LegalHold: r.LegalHold, PrunedTo: r.PrunedTo}
}

func (h *handler) getRetention(w http.ResponseWriter, r *http.Request, c call) error {
	ret, err := h.svc.Retention(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRetentionJSON(ret))
	return nil
}

func (h *handler) putRetention(w http.ResponseWriter, r *http.Request, c call) error {
	var req struct {
		Retention *string `json:"retention"`
		LegalHold *bool   `json:"legal_hold"`
	}
	if err := decodeAdminBody(r, &req); err != nil {
		return err
	}
	if req.Retention == nil || req.LegalHold == nil {
		return scimtrail.Errorf(scimtrail.EINVALID, `give both "retention" (such as "400d", or "" to keep forever) and "legal_hold"`)
	}
	var period time.Duration
	if *req.Retention != "" && *req.Retention != "0" {
		var err error
		if period, err = parseLifetime(*req.Retention); err != nil {
			return scimtrail.Errorf(scimtrail.EINVALID, "retention %q is not a period such as \"400d\" or \"36h\" (\"\" keeps entries forever)", *req.Retention)
		}
	}
	ret, rc, err := h.svc.SetRetention(r.Context(), c.origin, c.tenant, period, *req.LegalHold)
	if err != nil {
		return err
	}
	setAuditSeq(w, rc)
	writeJSON(w, http.StatusOK, toRetentionJSON(ret))
	return nil
}

// logged records an auditor's read of the tenant's log before serving it; a read that
// cannot be recorded is not served.
func (h *handler) logged(what string, fn apiHandler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, c call) error {
		if err := h.svc.NoteAuditRead(r.Context(), c.origin, c.tenant, c.token, what); err != nil {
			return err
		}
		return fn(w, r, c)
	}
}

// checkpointJSON is a checkpoint: the signed note and, decoded for convenience, its size and
// root. Clients should verify the note's signature, not trust the decoded fields.
type checkpointJSON struct {
	Size       int64  `json:"size"`
	Root       string `json:"root"`       // base64
	Checkpoint string `json:"checkpoint"` // the signed note (C2SP tlog-checkpoint)
	// Signed is when the server signed it (the note has no time of its own); absent for
	// checkpoints stored before the time was kept.
	Signed *time.Time `json:"signed,omitempty"`
}

func (h *handler) auditCheckpoint(w http.ResponseWriter, r *http.Request, c call) error {
	cp, err := h.svc.Checkpoint(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	out := checkpointJSON{Size: cp.Size, Root: b64(cp.Root), Checkpoint: string(cp.Note)}
	if !cp.Signed.IsZero() {
		out.Signed = &cp.Signed
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// proofJSON is an inclusion or consistency proof, hashes in standard base64.
type proofJSON struct {
	Seq       int64    `json:"seq,omitempty"`
	LeafIndex *int64   `json:"leaf_index,omitempty"`
	LeafHash  string   `json:"leaf_hash,omitempty"`
	From      int64    `json:"from,omitempty"`
	Size      int64    `json:"size"`
	Root      string   `json:"root"`
	Hashes    []string `json:"hashes"`
}

func toProofJSON(p service.Proof) proofJSON {
	out := proofJSON{Size: p.Size, Root: b64(p.Root), Hashes: make([]string, len(p.Hashes))}
	for i, x := range p.Hashes {
		out.Hashes[i] = b64(x)
	}
	return out
}

// seqParam reads a positive integer query parameter; def (when > 0) applies when absent.
func seqParam(r *http.Request, name string, def func() (int64, error)) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		if def != nil {
			return def()
		}
		return 0, scimtrail.Errorf(scimtrail.EINVALID, "the query parameter %s is required", name)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, scimtrail.Errorf(scimtrail.EINVALID, "%s must be a positive integer, not %q", name, s)
	}
	return n, nil
}

// latestSize is the size of the latest checkpoint (signed now if the log grew): the default
// tree a proof is made against, so the proof matches a checkpoint the client can fetch.
func (h *handler) latestSize(r *http.Request, c call) func() (int64, error) {
	return func() (int64, error) {
		cp, err := h.svc.Checkpoint(r.Context(), c.tenant)
		return cp.Size, err
	}
}

func (h *handler) inclusionProof(w http.ResponseWriter, r *http.Request, c call) error {
	seq, err := seqParam(r, "seq", nil)
	if err != nil {
		return err
	}
	size, err := seqParam(r, "size", h.latestSize(r, c))
	if err != nil {
		return err
	}
	p, err := h.svc.InclusionProof(r.Context(), c.tenant, seq, size)
	if err != nil {
		return err
	}
	out := toProofJSON(p)
	idx := seq - 1
	out.Seq, out.LeafIndex, out.LeafHash = seq, &idx, b64(p.LeafHash)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) consistencyProof(w http.ResponseWriter, r *http.Request, c call) error {
	from, err := seqParam(r, "from", nil)
	if err != nil {
		return err
	}
	to, err := seqParam(r, "to", h.latestSize(r, c))
	if err != nil {
		return err
	}
	p, err := h.svc.ConsistencyProof(r.Context(), c.tenant, from, to)
	if err != nil {
		return err
	}
	out := toProofJSON(p)
	out.From = from
	writeJSON(w, http.StatusOK, out)
	return nil
}

// logCheckpoint serves the latest checkpoint as C2SP tlog-tiles clients expect: the signed
// note as text.
func (h *handler) logCheckpoint(w http.ResponseWriter, r *http.Request, c call) error {
	cp, err := h.svc.Checkpoint(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(cp.Note)
	return nil
}

// logTile serves a hash tile or an entry bundle. Full tiles never change, so clients and
// proxies may keep them forever; a partial tile is replaced by a wider path as it grows.
func (h *handler) logTile(w http.ResponseWriter, r *http.Request, c call) error {
	a, err := ledger.ParseTilePath("tile/" + r.PathValue("path"))
	if err != nil {
		return scimtrail.Errorf(scimtrail.ENOTFOUND, "no such tile")
	}
	data, err := h.svc.Tile(r.Context(), c.tenant, a)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Write(data)
	return nil
}

// auditKeys serves the checkpoint-signing public keys as note verifier keys, current first.
func (h *handler) auditKeys(w http.ResponseWriter, r *http.Request) {
	keys := h.svc.VerifierKeys()
	if keys == nil {
		keys = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// receiptHeader carries a write's receipt when the request asked for one with ?receipt=1
// or the request header "Scimtrail-Receipt: 1": base64 (standard, padded) of a JSON
// object {"seq","checkpoint","size","root","leaf_hash","hashes"} — the entry's inclusion
// proof against the signed checkpoint, which covers it.
const receiptHeader = "Scimtrail-Receipt"

// receiptJSON is the decoded Scimtrail-Receipt header.
type receiptJSON struct {
	proofJSON
	Checkpoint string `json:"checkpoint"`
}

// receiptWriter adds the receipt header just before a write's response goes out; the
// handler's setAuditSeq tells it which entry.
type receiptWriter struct {
	http.ResponseWriter
	h       *handler
	r       *http.Request
	receipt scimtrail.Receipt
	wrote   bool
}

// withReceipt wraps w when r asks for a receipt.
func (h *handler) withReceipt(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if r.Method == http.MethodGet || (r.URL.Query().Get("receipt") != "1" && r.Header.Get(receiptHeader) != "1") {
		return w
	}
	return &receiptWriter{ResponseWriter: w, h: h, r: r}
}

func (rw *receiptWriter) WriteHeader(status int) {
	if !rw.wrote {
		rw.wrote = true
		if status < 300 && rw.receipt.Seq > 0 && rw.receipt.Log != "" {
			rw.addReceipt()
		}
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *receiptWriter) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *receiptWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// addReceipt sets the receipt header. The change is already committed, so a failure here
// cannot fail the request; it is logged and the header left out.
func (rw *receiptWriter) addReceipt() {
	ctx := rw.r.Context()
	rc, err := rw.h.svc.Receipt(ctx, rw.receipt.Log, rw.receipt.Seq)
	if err != nil {
		rw.h.logger.LogAttrs(ctx, slog.LevelError, "receipt", slog.String("request_id", requestIDFrom(ctx)), slog.String("error", err.Error()))
		return
	}
	p := toProofJSON(rc.Proof)
	idx := rc.Seq - 1
	p.Seq, p.LeafIndex, p.LeafHash = rc.Seq, &idx, b64(rc.Proof.LeafHash)
	b, _ := json.Marshal(receiptJSON{proofJSON: p, Checkpoint: string(rc.Checkpoint)})
	rw.Header().Set(receiptHeader, base64.StdEncoding.EncodeToString(b))
}
