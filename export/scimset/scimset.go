// Package scimset turns provisioning entries into SCIM Security Event Tokens (RFC 9967, a
// profile of RFC 8417 SETs): prov:create:notice, prov:patch:notice, prov:delete,
// prov:activate and prov:deactivate for Users and Groups. Tokens are unsecured JWTs
// ("alg":"none", RFC 7519 §6), which RFC 8417 permits when the transport authenticates the
// sender — here the Standard Webhooks signature over the whole body.
package scimset

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/scimtrail/scimtrail"
)

// Event URIs (RFC 9967 §2).
const (
	EventCreateNotice = "urn:ietf:params:SCIM:event:prov:create:notice"
	EventPatchNotice  = "urn:ietf:params:SCIM:event:prov:patch:notice"
	EventDelete       = "urn:ietf:params:SCIM:event:prov:delete"
	EventActivate     = "urn:ietf:params:SCIM:event:prov:activate"
	EventDeactivate   = "urn:ietf:params:SCIM:event:prov:deactivate"
)

var eventOf = map[string]string{
	"user.created": EventCreateNotice, "user.updated": EventPatchNotice, "user.deleted": EventDelete,
	"user.reactivated": EventActivate, "user.deactivated": EventDeactivate,
	"group.created": EventCreateNotice, "group.updated": EventPatchNotice, "group.deleted": EventDelete,
	"group.members_added": EventPatchNotice, "group.members_removed": EventPatchNotice,
}

// Token returns the SET of a provisioning entry, or ok false for entries that are not
// provisioning events (tokens, sinks, …), which a SET sink skips. issuer identifies the
// tenant's log; audience the receiver. Claims beyond RFC 8417 carry what a receiver needs to
// verify the entry against the log: the seq and leaf hash.
func Token(body []byte, leafHash, issuer, audience string) (token string, ok bool, err error) {
	var e scimtrail.Entry
	if err := json.Unmarshal(body, &e); err != nil {
		return "", false, err
	}
	uri, ok := eventOf[e.Action]
	if !ok || e.Target == nil {
		return "", false, nil
	}
	path := "/Users/"
	if e.Target.Type == string(scimtrail.GroupResource) {
		path = "/Groups/"
	}
	payload := map[string]any{"id": e.Target.ID}
	if uri == EventCreateNotice || uri == EventPatchNotice {
		attrs := []string{}
		for _, c := range e.Changes {
			attrs = append(attrs, c.Path)
		}
		payload["attributes"] = attrs
	}
	claims := map[string]any{
		"iss":       issuer,
		"aud":       audience,
		"iat":       e.Time.Unix(),
		"toe":       e.Time.Unix(),
		"jti":       e.Tenant + ":" + strconv.FormatInt(e.Seq, 10),
		"txn":       e.Actor.RequestID,
		"sub_id":    map[string]any{"format": "scim", "uri": path + e.Target.ID},
		"events":    map[string]any{uri: payload},
		"seq":       e.Seq,
		"leaf_hash": leafHash,
	}
	header := map[string]any{"typ": "secevent+jwt", "alg": "none"}
	h, _ := json.Marshal(header)
	c, err := json.Marshal(claims)
	if err != nil {
		return "", false, err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + ".", true, nil
}
