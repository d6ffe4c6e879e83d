package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// CursorTimeout is how long a pagination cursor stays valid after it was issued,
// advertised as pagination.cursorTimeout (RFC 9865 §4). Cursors hold no server state,
// so the limit bounds how long a captured cursor is worth anything, not memory.
const CursorTimeout = time.Hour

var cursorEncoding = base64.RawURLEncoding

// cursorState is what a cursor carries: where the page ends, which way, for which query,
// and when it was issued. It is a keyset position, so a cursor stays right however many
// resources are created or deleted between pages.
type cursorState struct {
	Tenant   string `json:"t"`
	Type     string `json:"r"`
	Query    string `json:"q"` // queryHash of the query the cursor belongs to
	Created  int64  `json:"c"` // µs since the epoch
	ID       string `json:"i"`
	Backward bool   `json:"b,omitempty"`
	Issued   int64  `json:"x"` // Unix seconds
}

// queryHash binds a cursor to its query: RFC 9865 §2 has clients repeat every query
// parameter but the cursor, and a cursor replayed against another filter or order would
// silently skip or repeat resources.
func queryHash(typ scimtrail.ResourceType, q ListQuery) string {
	h := sha256.Sum256([]byte(strings.Join([]string{string(typ), q.Filter,
		strings.ToLower(q.SortBy), strings.ToLower(q.SortOrder)}, "\x00")))
	return cursorEncoding.EncodeToString(h[:9])
}

// encodeCursor returns st as an opaque cursor: base64url JSON, ".", and a truncated
// HMAC-SHA256 of it, all characters from RFC 3986's unreserved set as RFC 9865 §2 requires.
func (s *Service) encodeCursor(st cursorState) string {
	body, _ := json.Marshal(st)
	payload := cursorEncoding.EncodeToString(body)
	return payload + "." + cursorEncoding.EncodeToString(s.cursorMAC(payload))
}

func (s *Service) cursorMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.cursorKey)
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

func invalidCursor(format string, args ...any) error {
	return scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimInvalidCursor, format, args...)
}

// decodeCursor checks a cursor's MAC, that it belongs to this tenant, resource type and
// query, and that it has not expired. Returns EINVALID with invalidCursor or
// expiredCursor (RFC 9865 §2.1).
func (s *Service) decodeCursor(tenant string, typ scimtrail.ResourceType, qh, cursor string) (cursorState, error) {
	var st cursorState
	payload, mac, ok := strings.Cut(cursor, ".")
	got, err := cursorEncoding.DecodeString(mac)
	if !ok || err != nil || !hmac.Equal(got, s.cursorMAC(payload)) {
		return st, invalidCursor("the cursor is not one this server issued; start again with an empty cursor")
	}
	body, err := cursorEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(body, &st) != nil {
		return st, invalidCursor("the cursor is malformed; start again with an empty cursor")
	}
	if st.Tenant != tenant || st.Type != string(typ) || st.Query != qh {
		return st, invalidCursor("the cursor belongs to another query: repeat the filter, sortBy and sortOrder of the request that returned it")
	}
	if s.now().After(time.Unix(st.Issued, 0).Add(CursorTimeout)) {
		return st, scimtrail.ScimErrorf(scimtrail.EINVALID, scimtrail.ScimExpiredCursor,
			"the cursor expired (cursors are valid for %d seconds); start again with an empty cursor", int(CursorTimeout.Seconds()))
	}
	return st, nil
}
