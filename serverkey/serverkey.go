// Package serverkey manages the install's server key: a secret kept outside the database
// from which the keys that must agree across restarts and replicas are derived — the SCIM
// pagination cursor key and the console session key. Keeping it out of the database means
// a copy of the database (a backup, a read replica) cannot forge cursors or sessions.
package serverkey

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Size is the length of a server key in bytes.
const Size = 32

// Labels of the keys derived from the server key. Distinct labels give independent keys,
// so a cursor MAC can never be replayed as a session MAC or the other way round.
const (
	CursorLabel  = "scimtrail cursor key v1"
	SessionLabel = "scimtrail console session key v1"
)

// Derive returns the 32-byte key for label: HKDF-SHA256 (RFC 5869) of the server key with
// no salt and label as the info.
func Derive(serverKey []byte, label string) []byte {
	k, err := hkdf.Key(sha256.New, serverKey, nil, label, 32)
	if err != nil {
		// Only an output longer than 255 hash lengths fails, and 32 bytes is not.
		panic(err)
	}
	return k
}

// Parse decodes a server key given as base64 (standard or URL alphabet, padded or not), as
// SCIMTRAIL_SERVER_KEY carries it to replicas.
func Parse(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) < Size {
				return nil, fmt.Errorf("the server key is %d bytes; it must be at least %d", len(k), Size)
			}
			return k, nil
		}
	}
	return nil, errors.New("the server key is not valid base64")
}

// LoadOrCreate reads the server key from the file at path, or, when there is no such file,
// creates it (and its directory) with Size random bytes, readable by its owner only. The
// file holds the raw bytes. created reports whether the key is new.
func LoadOrCreate(path string) (key []byte, created bool, err error) {
	key, err = os.ReadFile(path)
	if err == nil {
		if len(key) < Size {
			return nil, false, fmt.Errorf("server key file %s holds %d bytes; it must hold at least %d", path, len(key), Size)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read server key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create server key directory: %w", err)
	}
	key = make([]byte, Size)
	rand.Read(key)
	// O_EXCL: two processes starting at once must not each write a different key; the
	// loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreate(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create server key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, fmt.Errorf("write server key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write server key: %w", err)
	}
	return key, true, f.Close()
}
