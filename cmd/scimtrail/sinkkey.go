package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scimtrail/scimtrail/service"
)

// loadSinkKey reads the key that seals sink secrets (webhook secrets, HEC tokens) in the
// database. The key is kept outside the database, so a stolen database or backup alone does
// not reveal them. path "" means: next to a SQLite database file; with PostgreSQL there is no
// default (replicas must share the key), and sinks that need a secret are refused without it.
// A missing file is created with a fresh key, readable by its owner only.
func loadSinkKey(path, dsn string) ([]byte, string, error) {
	if path == "" {
		if isPostgres(dsn) {
			return nil, "", nil
		}
		path = filepath.Join(filepath.Dir(dsn), "sink-secrets.key")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, service.SinkKeySize)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, path, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, path, fmt.Errorf("create sink key file: %w", err)
		}
		return key, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("read sink key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != service.SinkKeySize {
		return nil, path, fmt.Errorf("sink key file %s must hold the base64 of %d random bytes", path, service.SinkKeySize)
	}
	return key, path, nil
}
