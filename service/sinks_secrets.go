package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail"
)

// SinkOptions configure export sinks.
type SinkOptions struct {
	// Key seals sink secrets (webhook signing secrets, HEC tokens) in the database with
	// AES-256-GCM. It is kept outside the database (a key file), so a copy of the database
	// alone does not reveal them. Without a key, sinks that need a secret are refused.
	Key []byte
	// AllowPrivate lets sinks point at loopback, private and link-local addresses, and use
	// plain http. Off in production: a tenant admin must not be able to make the server
	// call into its own network (SSRF). Tests turn it on to use receivers on loopback.
	AllowPrivate bool
	// FileDir is the directory file sinks write under (--sink-file-dir); a sink's dir is
	// relative to it and cannot leave it. Empty: file sinks are refused.
	FileDir string
}

// SinkKeySize is the size of SinkOptions.Key.
const SinkKeySize = 32

// SinkSecret is one signing secret of a sink. During a rotation a sink has several, and the
// old ones sign until Until, so that a receiver can switch over without losing a delivery.
type SinkSecret struct {
	Value string    `json:"value"`
	Until time.Time `json:"until,omitzero"` // zero: current
}

// sealSecrets encrypts secrets for sink id; the id is the additional data, so a sealed value
// copied onto another sink's row does not open.
func sealSecrets(key []byte, id string, secrets []SinkSecret) ([]byte, error) {
	if len(key) != SinkKeySize {
		return nil, scimtrail.Errorf(scimtrail.EINVALID,
			"this server has no key to encrypt sink secrets with; start it with --sink-key-file")
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// openSecrets decrypts what sealSecrets sealed.
func openSecrets(key []byte, id string, sealed []byte) ([]SinkSecret, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	if len(key) != SinkKeySize {
		return nil, fmt.Errorf("sink %s has a sealed secret but the server has no sink key", id)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("sink %s: sealed secret is truncated", id)
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("sink %s: the secret does not open with this server's sink key (was the key changed?)", id)
	}
	var out []SinkSecret
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("sink %s: sealed secret: %w", id, err)
	}
	return out, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// webhookSecretPrefix marks a Standard Webhooks secret: base64 of the HMAC key.
const webhookSecretPrefix = "whsec_"

// parseWebhookSecret checks a Standard Webhooks secret: "whsec_" and the base64 of 24 to 64
// random bytes.
func parseWebhookSecret(s string) error {
	raw, ok := strings.CutPrefix(s, webhookSecretPrefix)
	if !ok {
		return scimtrail.Errorf(scimtrail.EINVALID, "secret must be a Standard Webhooks secret starting with %q", webhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return scimtrail.Errorf(scimtrail.EINVALID, "secret must be %q followed by the base64 of 24 to 64 random bytes", webhookSecretPrefix)
	}
	return nil
}

// newWebhookSecret returns a fresh Standard Webhooks secret with a 256-bit key.
func newWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return webhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// IsPublicAddr reports whether a sink may connect to addr without --allow-private-sinks:
// not loopback, private (RFC 1918, fc00::/7), link-local (including the cloud metadata
// address 169.254.169.254), unspecified, multicast, CGNAT or otherwise reserved.
func IsPublicAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
	netip.MustParsePrefix("2001:db8::/32"),
}
