package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scimtrail/scimtrail/ledger"
	"golang.org/x/mod/sumdb/note"
)

func TestOrigin(t *testing.T) {
	if got, want := ledger.Origin("i-0f3a", "acme"), "scimtrail/i-0f3a/acme"; got != want {
		t.Fatalf("Origin = %q, want %q", got, want)
	}
}

func TestCheckpointBody(t *testing.T) {
	root := sha256.Sum256([]byte("x"))
	cp := ledger.Checkpoint{Origin: testOrigin, Size: 42, Root: root[:]}
	want := testOrigin + "\n42\n" + b64(root[:]) + "\n"
	if got := string(cp.Body()); got != want {
		t.Fatalf("Body = %q, want %q", got, want)
	}
	// The example from C2SP tlog-checkpoint parses.
	got, err := ledger.ParseCheckpointBody([]byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
	if err != nil || got.Origin != "example.com/behind-the-sofa" || got.Size != 20852163 || len(got.Root) != 32 {
		t.Fatalf("C2SP example: %+v, %v", got, err)
	}
}

func TestSignAndOpenCheckpoint(t *testing.T) {
	ring := mustRing(t)
	root := sha256.Sum256([]byte("x"))
	cp := ledger.Checkpoint{Origin: testOrigin, Size: 42, Root: root[:]}
	msg, err := ledger.SignCheckpoint(cp, ring.Signer())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(msg, cp.Body()) || !bytes.Contains(msg, []byte("\n\n— scimtrail-install-1 ")) {
		t.Fatalf("signed note:\n%s", msg)
	}
	// Any signed-note implementation accepts it: here x/mod's, with the served key string.
	v, err := note.NewVerifier(ring.VerifierKeys()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	got, err := ledger.OpenCheckpoint(msg, ring.Verifiers(), testOrigin)
	if err != nil || got.Size != 42 || !bytes.Equal(got.Root, root[:]) || got.Origin != testOrigin {
		t.Fatalf("OpenCheckpoint = %+v, %v", got, err)
	}

	if _, err := ledger.OpenCheckpoint(msg, ring.Verifiers(), "scimtrail/install-1/globex"); err == nil {
		t.Error("OpenCheckpoint with another origin: no error")
	}
	if _, err := ledger.OpenCheckpoint(msg, mustRing(t).Verifiers(), testOrigin); !errors.Is(err, ledger.ErrBadSignature) {
		t.Errorf("OpenCheckpoint with an unknown key: %v, want ErrBadSignature", err)
	}
	edited := bytes.Replace(msg, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := ledger.OpenCheckpoint(edited, ring.Verifiers(), testOrigin); !errors.Is(err, ledger.ErrBadSignature) {
		t.Errorf("OpenCheckpoint of an edited body: %v, want ErrBadSignature", err)
	}
	if _, err := ledger.OpenCheckpoint(msg[:len(msg)-1], ring.Verifiers(), testOrigin); err == nil || errors.Is(err, ledger.ErrBadSignature) {
		t.Errorf("OpenCheckpoint of a malformed note: %v, want a format error", err)
	}

	for _, bad := range []ledger.Checkpoint{
		{Origin: "", Size: 1, Root: root[:]},
		{Origin: "a\nb", Size: 1, Root: root[:]},
		{Origin: testOrigin, Size: -1, Root: root[:]},
		{Origin: testOrigin, Size: 1, Root: root[:31]},
	} {
		if _, err := ledger.SignCheckpoint(bad, ring.Signer()); err == nil {
			t.Errorf("SignCheckpoint(%+v): no error", bad)
		}
	}
}

// OpenCheckpoint accepts only the canonical spelling of a checkpoint, even when it is
// validly signed, so that one tree head cannot appear as two.
func TestOpenCheckpointStrict(t *testing.T) {
	ring := mustRing(t)
	root := b64(bytes.Repeat([]byte{7}, 32))
	sign := func(text string) []byte {
		msg, err := note.Sign(&note.Note{Text: text}, ring.Signer())
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	if cp, err := ledger.OpenCheckpoint(sign(testOrigin+"\n5\n"+root+"\nextension line\n"), ring.Verifiers(), testOrigin); err != nil || cp.Size != 5 {
		t.Errorf("extension line: %+v, %v; want it ignored", cp, err)
	}
	for name, text := range map[string]string{
		"LeadingZero":    testOrigin + "\n05\n" + root + "\n",
		"Plus":           testOrigin + "\n+5\n" + root + "\n",
		"Negative":       testOrigin + "\n-5\n" + root + "\n",
		"Overflow":       testOrigin + "\n9223372036854775808\n" + root + "\n",
		"Unpadded":       testOrigin + "\n5\n" + strings.TrimRight(root, "=") + "\n",
		"URLBase64":      testOrigin + "\n5\n" + strings.NewReplacer("+", "-", "/", "_").Replace(b64(bytes.Repeat([]byte{0xfb}, 32))) + "\n",
		"ShortRoot":      testOrigin + "\n5\n" + b64(bytes.Repeat([]byte{7}, 20)) + "\n",
		"TwoLines":       testOrigin + "\n5\n",
		"EmptyExtension": testOrigin + "\n5\n" + root + "\n\nx\n",
	} {
		if cp, err := ledger.OpenCheckpoint(sign(text), ring.Verifiers(), testOrigin); err == nil {
			t.Errorf("%s: OpenCheckpoint = %+v, want an error", name, cp)
		}
	}
}

func TestKeyRing(t *testing.T) {
	text, err := ledger.NewKeyRing("scimtrail-install-1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		t.Fatal(err)
	}
	secret := privateKey(t, text)
	if got := ring.Signer().Name(); got != "scimtrail-install-1" {
		t.Fatalf("signer name = %q", got)
	}
	root := sha256.Sum256(nil)
	old, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: testOrigin, Size: 0, Root: root[:]}, ring.Signer())
	if err != nil {
		t.Fatal(err)
	}
	oldKeys := ring.VerifierKeys()

	newText, err := ring.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(newText, []byte(secret)) {
		t.Fatal("rotated key ring text still holds the retired secret")
	}
	keys := ring.VerifierKeys()
	if len(keys) != 2 || keys[1] != oldKeys[0] || keys[0] == oldKeys[0] {
		t.Fatalf("after Rotate, keys = %v; want a new current key, then %v", keys, oldKeys)
	}
	// Reloading the new text gives the same ring.
	again, err := ledger.ParseKeyRing(newText)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.VerifierKeys(); fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("reparsed keys = %v, want %v", got, keys)
	}
	// Checkpoints signed before the rotation still verify; new ones use the new key.
	if _, err := ledger.OpenCheckpoint(old, again.Verifiers(), testOrigin); err != nil {
		t.Fatalf("old checkpoint after rotation: %v", err)
	}
	fresh, _ := ledger.SignCheckpoint(ledger.Checkpoint{Origin: testOrigin, Size: 0, Root: root[:]}, again.Signer())
	oldOnly, _ := ledger.ParseVerifierKeys(oldKeys)
	if _, err := ledger.OpenCheckpoint(fresh, oldOnly, testOrigin); !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("new checkpoint verified with the retired key only: %v", err)
	}
	if _, err := ledger.OpenCheckpoint(fresh, again.Verifiers(), testOrigin); err != nil {
		t.Fatalf("new checkpoint: %v", err)
	}

	// The secret shows in no formatting of the ring.
	newSecret := privateKey(t, newText)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, arg := range []any{ring, again, []*ledger.KeyRing{again}, struct{ R *ledger.KeyRing }{again}} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(out, newSecret[len("PRIVATE+KEY+"):]) || strings.Contains(out, keyMaterial(newSecret)) {
				t.Errorf("fmt %s of the key ring shows the secret: %s", verb, out)
			}
		}
	}
}

func TestParseKeyRingErrors(t *testing.T) {
	skey, vkey, err := ledger.GenerateKey("k")
	if err != nil {
		t.Fatal(err)
	}
	skey2, _, _ := ledger.GenerateKey("k")
	// A key whose hash does not match: the error must not echo the key.
	broken := skey[:len("PRIVATE+KEY+k+")] + "00000000" + skey[len("PRIVATE+KEY+k+00000000"):]
	for name, text := range map[string]string{
		"Empty":        "# nothing\n",
		"TwoSigners":   skey + "\n" + skey2 + "\n",
		"Garbage":      skey + "\nhello\n",
		"BadRetired":   skey + "\nretired k+00000000+AAAA\n",
		"BrokenKey":    broken + "\n",
		"VerifierOnly": "retired " + vkey + "\n",
	} {
		_, err := ledger.ParseKeyRing([]byte(text))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), keyMaterial(skey)) || strings.Contains(err.Error(), keyMaterial(skey2)) {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
	if _, _, err := ledger.GenerateKey("has space"); err == nil {
		t.Error("GenerateKey with a space in the name: no error")
	}
	if _, _, err := ledger.GenerateKey("a+b"); err == nil {
		t.Error("GenerateKey with '+' in the name: no error")
	}
}

func privateKey(t *testing.T, text []byte) string {
	t.Helper()
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "PRIVATE+KEY+") {
			return line
		}
	}
	t.Fatalf("no private key in\n%s", text)
	return ""
}

// keyMaterial is the base64 secret part of a signer key.
func keyMaterial(skey string) string { return strings.SplitN(skey, "+", 5)[4] }

func TestKeyRingReplace(t *testing.T) {
	text, err := ledger.NewKeyRing("scimtrail-test")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ledger.ParseKeyRing(text)
	if err != nil {
		t.Fatal(err)
	}
	// The file, rotated by another process: a new signer, the old key retired.
	onDisk, _ := ledger.ParseKeyRing(text)
	rotated, err := onDisk.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	next, err := ledger.ParseKeyRing(rotated)
	if err != nil {
		t.Fatal(err)
	}
	old := ring.VerifierKeys()
	changed, err := ring.Replace(next)
	if err != nil || !changed {
		t.Fatalf("Replace with the rotated ring = %v, %v; want true, nil", changed, err)
	}
	if got, want := ring.VerifierKeys(), next.VerifierKeys(); !slices.Equal(got, want) || got[1] != old[0] {
		t.Errorf("keys after Replace = %v, want %v with the old key %s retired", got, want, old[0])
	}
	if got, want := ring.Signer().KeyHash(), next.Signer().KeyHash(); got != want {
		t.Errorf("signer key hash %x, want the new key's %x", got, want)
	}
	if changed, err := ring.Replace(next); err != nil || changed {
		t.Errorf("Replace with the same keys again = %v, %v; want false, nil", changed, err)
	}
	// A ring that forgets the current key would orphan the checkpoints it signed.
	fresh, _ := ledger.NewKeyRing("scimtrail-test")
	stranger, _ := ledger.ParseKeyRing(fresh)
	before := ring.VerifierKeys()
	if _, err := ring.Replace(stranger); err == nil {
		t.Error("Replace with an unrelated ring: no error")
	}
	if !slices.Equal(ring.VerifierKeys(), before) {
		t.Error("a refused Replace changed the ring")
	}
}
