// Package scimset turns provisioning entries into SCIM Security Event Tokens (RFC 9967, a
// profile of RFC 8417 SETs), in "notice" mode: the receiver learns which resource changed
// and which attributes, and reads the values with a SCIM GET (RFC 9967 §2.4, co-ordinated
// provisioning). Tokens are unsecured JWTs ("alg":"none", RFC 7519 §6), which RFC 8417
// permits when the transport authenticates the sender — here the Standard Webhooks
// signature over the whole body.
package scimset

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/scimtrail/scimtrail"
)

// Event URIs (RFC 9967 §2.4.1–§2.4.6). The namespace is lower-case "scim" (§2: the prefix
// "urn:ietf:params:scim:event"); early drafts spelled it "SCIM".
const (
	EventCreateNotice = "urn:ietf:params:scim:event:prov:create:notice"
	EventPatchNotice  = "urn:ietf:params:scim:event:prov:patch:notice"
	EventDelete       = "urn:ietf:params:scim:event:prov:delete"
	EventActivate     = "urn:ietf:params:scim:event:prov:activate"
	EventDeactivate   = "urn:ietf:params:scim:event:prov:deactivate"
)

// eventOf is the event of each provisioning action. The log records which attributes
// changed, not whether a PUT or a PATCH changed them, so every update is a patch notice;
// a put notice would carry the same attributes.
var eventOf = map[string]string{
	"user.created": EventCreateNotice, "user.updated": EventPatchNotice, "user.deleted": EventDelete,
	"user.reactivated": EventActivate, "user.deactivated": EventDeactivate,
	"group.created": EventCreateNotice, "group.updated": EventPatchNotice, "group.deleted": EventDelete,
	"group.member_added": EventPatchNotice, "group.member_removed": EventPatchNotice,
}

// Token returns the SET of a provisioning entry, or ok false for entries that are not
// provisioning events (tokens, sinks, checkpoints, …), which a SET sink skips. issuer
// identifies the tenant's log; audience the receiver. Claims beyond RFC 8417 and RFC 9967
// carry what a receiver needs to verify the entry against the log: the seq and leaf hash.
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
	attrs := []string{}
	for _, c := range e.Changes {
		if !slices.Contains(attrs, c.Path) {
			attrs = append(attrs, c.Path)
		}
	}
	// §2.4: a notice event carries "attributes" (never "data" as well); delete, activate
	// and deactivate carry no payload attributes (§2.4.4–§2.4.6).
	events := map[string]any{}
	switch uri {
	case EventCreateNotice, EventPatchNotice:
		events[uri] = map[string]any{"attributes": attrs}
	case EventActivate, EventDeactivate:
		events[uri] = map[string]any{}
		// §2.1: several event URIs in one SET are one state change of one resource. A
		// request that also changed other attributes is reported as a patch notice too.
		if other := slices.DeleteFunc(slices.Clone(attrs), func(a string) bool { return a == "active" }); len(other) > 0 {
			events[EventPatchNotice] = map[string]any{"attributes": attrs}
		}
	default:
		events[uri] = map[string]any{}
	}
	jti := e.Tenant + ":" + strconv.FormatInt(e.Seq, 10)
	// §2.2: txn identifies the transaction, the same for every SET it causes; the request
	// id is that transaction, and an entry without one (a background change) is its own.
	txn := e.Actor.RequestID
	if txn == "" {
		txn = jti
	}
	claims := map[string]any{
		"iss": issuer,
		"aud": audience,
		"iat": e.Time.Unix(),
		"toe": e.Time.Unix(),
		"jti": jti,
		"txn": txn,
		// §2.1: the subject is "sub_id" of format "scim" with the resource's relative
		// "uri" (REQUIRED) and, for backwards compatibility, its "id"; never "sub".
		"sub_id":    map[string]any{"format": "scim", "uri": path + e.Target.ID, "id": e.Target.ID},
		"events":    events,
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
