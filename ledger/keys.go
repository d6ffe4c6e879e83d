package ledger

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// GenerateKey returns a new Ed25519 note key pair named name: the signer key
// ("PRIVATE+KEY+name+hash+base64", secret) and the verifier key ("name+hash+base64",
// public). The name is what appears on the signature line of every checkpoint.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	if !validKeyName(name) {
		return "", "", fmt.Errorf("key name %q must be non-empty, printable and without spaces or '+'", name)
	}
	return note.GenerateKey(rand.Reader, name)
}

// KeyRing holds the key that signs new checkpoints and the public keys of retired signing
// keys. Retired keys are kept so checkpoints signed before a rotation still verify: auditors
// hold old checkpoints and must not be told they are forged.
//
// Its text format, one item a line (blank lines and lines starting with '#' are comments):
//
//	PRIVATE+KEY+<name>+<hash>+<base64>   exactly one: the current signer key
//	retired <name>+<hash>+<base64>       any number: verifier keys of retired signers
//
// The secret key never appears in the output of String, GoString, any fmt verb, or an error.
type KeyRing struct {
	mu      sync.Mutex
	secret  secretKey
	signer  note.Signer
	current string   // verifier key of the signer
	retired []string // oldest first
}

// secretKey is a signer key that formats as a placeholder, so a stray %v of a KeyRing or
// a debug dump cannot leak it.
type secretKey string

func (secretKey) String() string                { return "PRIVATE+KEY+REDACTED" }
func (secretKey) GoString() string              { return "PRIVATE+KEY+REDACTED" }
func (secretKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, "PRIVATE+KEY+REDACTED") }

// NewKeyRing returns the text of a new key ring with one fresh key named name, for a first
// start. Write it to a file only the server can read.
func NewKeyRing(name string) ([]byte, error) {
	skey, _, err := GenerateKey(name)
	if err != nil {
		return nil, err
	}
	return formatKeyRing(skey, nil), nil
}

// ParseKeyRing parses the text format described on KeyRing. Errors name the line number,
// never its content.
func ParseKeyRing(text []byte) (*KeyRing, error) {
	k := &KeyRing{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
		case strings.HasPrefix(s, "PRIVATE+KEY+"):
			if k.signer != nil {
				return nil, fmt.Errorf("key ring line %d: a second PRIVATE+KEY line; only one key signs", line)
			}
			signer, err := note.NewSigner(s)
			if err != nil {
				return nil, fmt.Errorf("key ring line %d: not a valid signer key", line)
			}
			vkey, err := verifierKeyOf(s, signer.Name())
			if err != nil {
				return nil, fmt.Errorf("key ring line %d: %w", line, err)
			}
			k.secret, k.signer, k.current = secretKey(s), signer, vkey
		case strings.HasPrefix(s, "retired "):
			vkey := strings.TrimSpace(strings.TrimPrefix(s, "retired "))
			if _, err := note.NewVerifier(vkey); err != nil {
				return nil, fmt.Errorf("key ring line %d: retired key: %w", line, err)
			}
			k.retired = append(k.retired, vkey)
		default:
			return nil, fmt.Errorf("key ring line %d: want \"PRIVATE+KEY+…\", \"retired <verifier key>\" or a # comment", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	if k.signer == nil {
		return nil, errors.New("key ring has no PRIVATE+KEY line")
	}
	return k, nil
}

// Signer returns the signer of new checkpoints.
func (k *KeyRing) Signer() note.Signer {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signer
}

// Verifiers returns verifiers for the current and every retired key.
func (k *KeyRing) Verifiers() note.Verifiers {
	v, err := ParseVerifierKeys(k.VerifierKeys())
	if err != nil {
		// Every key was checked when it entered the ring.
		panic(err)
	}
	return v
}

// VerifierKeys returns the public keys, current first, as note verifier keys
// (name+hash+base64): what /api/v1/audit/keys serves and a bundle's keys.txt holds.
func (k *KeyRing) VerifierKeys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []string{k.current}
	for i := len(k.retired) - 1; i >= 0; i-- {
		out = append(out, k.retired[i])
	}
	return out
}

// Rotate replaces the signer with a new key of the same name and retires the old one,
// keeping its verifier key. It returns the ring's new text, which the caller must store
// before signing anything with the new key: a checkpoint signed by a key that is then lost
// could never be verified. The old secret is not in the new text.
func (k *KeyRing) Rotate() (newText []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	skey, _, err := GenerateKey(k.signer.Name())
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	vkey, err := verifierKeyOf(skey, signer.Name())
	if err != nil {
		return nil, err
	}
	k.retired = append(k.retired, k.current)
	k.secret, k.signer, k.current = secretKey(skey), signer, vkey
	return formatKeyRing(skey, k.retired), nil
}

// Replace makes k the ring next (a ring reloaded from its file after "audit keys rotate"),
// in place, so every holder of k signs with the new key from the next checkpoint on. It
// refuses a ring that lacks k's current public key (as signer or retired): checkpoints that
// key signed would no longer verify against the served keys. It reports whether the signer
// changed.
func (k *KeyRing) Replace(next *KeyRing) (bool, error) {
	if k == next {
		return false, nil
	}
	nextKeys := next.VerifierKeys()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !slices.Contains(nextKeys, k.current) {
		return false, fmt.Errorf("the new key ring lacks the current public key %s (as signer or retired): checkpoints it signed would no longer verify", k.current)
	}
	next.mu.Lock()
	defer next.mu.Unlock()
	changed := k.current != next.current
	k.secret, k.signer, k.current, k.retired = next.secret, next.signer, next.current, slices.Clone(next.retired)
	return changed, nil
}

// String describes the ring by its public keys only.
func (k *KeyRing) String() string {
	keys := k.VerifierKeys()
	return fmt.Sprintf("KeyRing{current: %s, retired: %d}", keys[0], len(keys)-1)
}

// GoString keeps %#v from dumping the fields, which hold the secret.
func (k *KeyRing) GoString() string { return k.String() }

// Format makes every fmt verb print String, never the fields.
func (k *KeyRing) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// ParseVerifierKeys turns note verifier keys (as in keys.txt or /api/v1/audit/keys) into
// Verifiers.
func ParseVerifierKeys(keys []string) (note.Verifiers, error) {
	var list []note.Verifier
	for _, s := range keys {
		v, err := note.NewVerifier(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", s, err)
		}
		list = append(list, v)
	}
	return note.VerifierList(list...), nil
}

// verifierKeyOf derives the public verifier key from an Ed25519 signer key; x/mod's note
// package has no such function and the ring must serve the public key of its signer.
func verifierKeyOf(skey, name string) (string, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64>; the base64 itself may hold '+'.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", errors.New("signer key is not PRIVATE+KEY+<name>+<hash>+<key>")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("signer key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}

func formatKeyRing(skey string, retired []string) []byte {
	var b bytes.Buffer
	b.WriteString("# scimtrail checkpoint signing keys. Secret: readable by the server only.\n")
	b.WriteString("# The PRIVATE+KEY line signs new checkpoints; \"retired\" lines are the public keys\n")
	b.WriteString("# of earlier signing keys, kept so that their checkpoints still verify.\n")
	b.WriteString(skey)
	b.WriteByte('\n')
	for _, r := range retired {
		b.WriteString("retired ")
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func validKeyName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == '+' || r == 0x7f {
			return false
		}
	}
	return true
}
