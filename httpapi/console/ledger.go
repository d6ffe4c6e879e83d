package console

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// checkpointView is the tenant's latest signed checkpoint as the console shows it and as
// console.js verifies proofs against it.
type checkpointView struct {
	Size int64  `json:"size"`
	Root string `json:"root"` // hex, as console.js compares it
	Key  string `json:"key"`  // the name of the key that signed it
	Note string `json:"note"` // the signed note itself
	// Signed is when the server signed it; zero for checkpoints older than the record.
	Signed time.Time `json:"signed,omitzero"`
}

// signerName reads the key name from a signed note's first signature line ("— name sig").
func signerName(note []byte) string {
	_, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(sigs, "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "—"))
	if len(fields) < 2 {
		return ""
	}
	return fields[0]
}

func (c *Console) checkpoint(r *http.Request, tenant string) (checkpointView, error) {
	cp, err := c.svc.Checkpoint(r.Context(), tenant)
	if err != nil {
		return checkpointView{}, err
	}
	return checkpointView{Size: cp.Size, Root: hex.EncodeToString(cp.Root), Key: signerName(cp.Note), Note: string(cp.Note), Signed: cp.Signed}, nil
}

// writeJSONOr writes v, or err as a JSON message a person can read.
func (c *Console) writeJSONOr(w http.ResponseWriter, r *http.Request, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		status, msg := http.StatusInternalServerError, "The proof could not be fetched. Try again in a moment."
		switch scimtrail.ErrorCode(err) {
		case scimtrail.ENOTFOUND:
			status, msg = http.StatusNotFound, "There is no signed checkpoint for this log yet."
		case scimtrail.EINVALID:
			status, msg = http.StatusBadRequest, scimtrail.ErrorMessage(err)
		default:
			c.logger.Error("console proof", "error", err.Error())
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// auditCheckpoint answers console.js with the latest signed checkpoint.
func (c *Console) auditCheckpoint(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	cp, err := c.checkpoint(r, v.TenantID)
	c.writeJSONOr(w, r, cp, err)
	return "", nil
}

// auditProof answers console.js with the inclusion proof of entry seq in the tree of size.
func (c *Console) auditProof(w http.ResponseWriter, r *http.Request, v *view) (string, error) {
	seq, err1 := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
	size, err2 := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err1 != nil || err2 != nil {
		c.writeJSONOr(w, r, nil, scimtrail.Errorf(scimtrail.EINVALID, "seq and size must be numbers"))
		return "", nil
	}
	p, err := c.svc.InclusionProof(r.Context(), v.TenantID, seq, size)
	out := map[string]any{}
	if err == nil {
		hashes := make([]string, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i] = hex.EncodeToString(h)
		}
		out = map[string]any{"seq": seq, "size": p.Size, "leaf_hash": hex.EncodeToString(p.LeafHash), "hashes": hashes}
	}
	c.writeJSONOr(w, r, out, err)
	return "", nil
}
