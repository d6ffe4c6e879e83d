package serverkey_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/scimtrail/scimtrail/serverkey"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "server.key")
	k1, created, err := serverkey.LoadOrCreate(path)
	if err != nil || !created || len(k1) != serverkey.Size {
		t.Fatalf("first LoadOrCreate: %d bytes, created %v, %v", len(k1), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %v, want 0600", got)
	}
	k2, created, err := serverkey.LoadOrCreate(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second LoadOrCreate: created %v, same key %v, %v", created, bytes.Equal(k1, k2), err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("tiny"), 0o600)
	if _, _, err := serverkey.LoadOrCreate(short); err == nil {
		t.Error("a 4-byte key file was accepted")
	}
}

func TestParse(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, 32)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		got, err := serverkey.Parse(enc.EncodeToString(key) + "\n")
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("Parse(%s): %x, %v", enc.EncodeToString(key), got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("16 bytes is shrt"))} {
		if _, err := serverkey.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestDerive(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	c, s := serverkey.Derive(key, serverkey.CursorLabel), serverkey.Derive(key, serverkey.SessionLabel)
	if len(c) != 32 || bytes.Equal(c, s) || bytes.Equal(c, key) {
		t.Fatalf("derived keys must be 32 bytes, distinct per label and from the server key: %x %x", c, s)
	}
	if !bytes.Equal(c, serverkey.Derive(key, serverkey.CursorLabel)) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(c, serverkey.Derive(bytes.Repeat([]byte{2}, 32), serverkey.CursorLabel)) {
		t.Error("another server key derived the same cursor key")
	}
}
