package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/ledger"
)

// ledgerState is what the Service keeps about the ledger beyond the database: the signing
// keys (never stored in the database), the install id once read, and when each auditor
// token's reads were last logged.
type ledgerState struct {
	keys *ledger.KeyRing

	mu        sync.Mutex
	installID string
	reads     map[readKey]time.Time

	// proofs remembers subtree hashes across proofs (see proofCache).
	proofs proofCache
}

type readKey struct{ tenant, token string }

// installIDKey is the settings key of the install id.
const installIDKey = "install_id"

// InstallID returns the install's id, generating and storing it on the first call against
// a new database. It names every log's origin (scimtrail/<install-id>/<tenant>), so two
// installs' logs of a tenant with the same name can never be confused.
func (s *Service) InstallID(ctx context.Context) (string, error) {
	s.ledger.mu.Lock()
	defer s.ledger.mu.Unlock()
	if s.ledger.installID != "" {
		return s.ledger.installID, nil
	}
	id, err := s.readSetting(ctx, installIDKey)
	if isNotFound(err) {
		var b [8]byte
		rand.Read(b[:])
		// Replicas starting together race here; InsertSetting keeps the first, and
		// everyone reads that one back.
		err = s.store.Update(ctx, scimtrail.SystemLog, func(tx scimtrail.Tx) error {
			_, err := tx.InsertSetting(ctx, installIDKey, hex.EncodeToString(b[:]))
			return err
		})
		if err == nil {
			id, err = s.readSetting(ctx, installIDKey)
		}
	}
	if err != nil {
		return "", err
	}
	s.ledger.installID = id
	return id, nil
}

func (s *Service) readSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		var err error
		v, err = tx.Setting(ctx, key)
		return err
	})
	return v, err
}

// Origin returns the checkpoint origin of the tenant's log.
func (s *Service) Origin(ctx context.Context, tenant string) (string, error) {
	id, err := s.InstallID(ctx)
	if err != nil {
		return "", err
	}
	return ledger.Origin(id, tenant), nil
}

// VerifierKeys returns the checkpoint-signing public keys, current first, as note verifier
// keys; nil when this Service has no keys.
func (s *Service) VerifierKeys() []string {
	if s.ledger.keys == nil {
		return nil
	}
	return s.ledger.keys.VerifierKeys()
}

// txTiles reads one tenant's tiles through a transaction, as ledger.TileReader.
type txTiles struct {
	ctx    context.Context
	tx     scimtrail.ReadTx
	tenant string
}

func (r txTiles) ReadTile(level, index int64) ([]byte, error) {
	return r.tx.ReadTile(r.ctx, r.tenant, level, index)
}

// appendTiles stores the tiles that change when stored (numbered after a tree of oldSize
// leaves) is appended, in tx, so that every acknowledged entry is at once covered by tiles
// that proofs and /logs/{tenant}/tile/… read. It refuses an entry too large for a C2SP entry
// bundle. A log whose tiles are missing or behind (written before tiles existed) has them
// rebuilt from the stored leaf hashes first.
func appendTiles(ctx context.Context, tx scimtrail.Tx, oldSize int64, stored []scimtrail.StoredEntry) error {
	if len(stored) == 0 {
		return nil
	}
	tenant := stored[0].Tenant
	leaves := make([][]byte, len(stored))
	for i, e := range stored {
		if len(e.Body) > ledger.MaxEntrySize {
			return scimtrail.Errorf(scimtrail.EINVALID, "the audit entry for %s is %d bytes, more than the %d a ledger entry may hold; make the change in smaller parts",
				e.Action, len(e.Body), ledger.MaxEntrySize)
		}
		leaves[i] = e.LeafHash
	}
	r := txTiles{ctx, tx, tenant}
	tiles, err := ledger.UpdateTiles(oldSize, leaves, r)
	if err != nil {
		ok, cerr := tilesComplete(ctx, tx, tenant, oldSize)
		if cerr != nil || ok {
			return errors.Join(fmt.Errorf("ledger tiles of %s: %w", tenant, err), cerr)
		}
		if err := rebuildTiles(ctx, tx, tenant, oldSize); err != nil {
			return err
		}
		if tiles, err = ledger.UpdateTiles(oldSize, leaves, r); err != nil {
			return fmt.Errorf("ledger tiles of %s: %w", tenant, err)
		}
	}
	return tx.PutTiles(ctx, tenant, toStoreTiles(tiles))
}

func toStoreTiles(tiles []ledger.TileData) []scimtrail.Tile {
	out := make([]scimtrail.Tile, len(tiles))
	for i, t := range tiles {
		out[i] = scimtrail.Tile{Level: t.Level, Index: t.Index, Data: t.Data}
	}
	return out
}

// tilesComplete reports whether the tenant's level-0 tiles cover all size leaves: the last
// one holds exactly the leaves up to size. (Higher levels are written in the same
// transaction as level 0, so level 0 tells.)
func tilesComplete(ctx context.Context, tx scimtrail.ReadTx, tenant string, size int64) (bool, error) {
	if size == 0 {
		return true, nil
	}
	last := (size - 1) / ledger.TileWidth
	data, err := tx.ReadTile(ctx, tenant, 0, last)
	if err != nil {
		return false, err
	}
	return int64(len(data)) == ((size-1)%ledger.TileWidth+1)*ledger.HashSize, nil
}

// rebuildChunk is how many leaf hashes a rebuild reads at a time.
const rebuildChunk = 64 * ledger.TileWidth

// rebuildTiles writes every tile of the tenant's first size leaves from the stored leaf
// hashes. History is not rewritten: the leaf hashes are what was committed, and the tiles
// are only an index over them.
func rebuildTiles(ctx context.Context, tx scimtrail.Tx, tenant string, size int64) error {
	mem := memTiles{}
	var done int64
	for done < size {
		hashes, err := tx.LeafHashes(ctx, tenant, done, int(min(rebuildChunk, size-done)))
		if err != nil {
			return err
		}
		if len(hashes) == 0 {
			return fmt.Errorf("ledger tiles of %s: the log has %d entries but its head says %d", tenant, done, size)
		}
		tiles, err := ledger.UpdateTiles(done, hashes, mem)
		if err != nil {
			return fmt.Errorf("ledger tiles of %s: %w", tenant, err)
		}
		for _, t := range tiles {
			mem[[2]int64{t.Level, t.Index}] = t.Data
		}
		if err := tx.PutTiles(ctx, tenant, toStoreTiles(tiles)); err != nil {
			return err
		}
		done += int64(len(hashes))
	}
	return nil
}

// memTiles serves a rebuild's own tiles back to UpdateTiles; only the right edge is read,
// but keeping all is simpler and costs 32 bytes a leaf.
type memTiles map[[2]int64][]byte

func (m memTiles) ReadTile(level, index int64) ([]byte, error) { return m[[2]int64{level, index}], nil }

// BackfillTiles writes the tiles of every log written before tiles existed (an upgrade
// from schema version 1). It is idempotent and cheap when nothing is missing: one read a
// log. Serve and migrate run it at start-up; appends also rebuild a log's tiles on demand.
func (s *Service) BackfillTiles(ctx context.Context, logger *slog.Logger) error {
	var heads []scimtrail.LedgerHead
	err := s.store.View(ctx, func(tx scimtrail.ReadTx) error {
		if q, ok := tx.(incompleteTilesQuery); ok {
			var err error
			heads, err = q.LogsWithIncompleteTiles(ctx, ledger.TileWidth, ledger.HashSize)
			return err
		}
		ts, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range append([]string{scimtrail.SystemLog}, tenantIDs(ts)...) {
			h, err := tx.LedgerHead(ctx, t)
			if err != nil {
				return err
			}
			ok, err := tilesComplete(ctx, tx, t, h.Size)
			if err != nil {
				return err
			}
			if !ok {
				h.Tenant = t
				heads = append(heads, h)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range heads {
		err := s.store.Update(ctx, h.Tenant, func(tx scimtrail.Tx) error {
			cur, err := tx.LedgerHead(ctx, h.Tenant)
			if err != nil {
				return err
			}
			if ok, err := tilesComplete(ctx, tx, h.Tenant, cur.Size); err != nil || ok {
				return err
			}
			return rebuildTiles(ctx, tx, h.Tenant, cur.Size)
		})
		if err != nil {
			return fmt.Errorf("backfill the tiles of %s: %w", h.Tenant, err)
		}
		if logger != nil {
			logger.Info("backfilled ledger tiles", "tenant", h.Tenant, "size", h.Size)
		}
	}
	return nil
}

// incompleteTilesQuery is a store that finds the logs BackfillTiles must rebuild in one
// query (postgres); elsewhere BackfillTiles reads each log's head and last tile, two round
// trips per tenant at every start, which on PostgreSQL took 315 ms at 1,000 tenants.
type incompleteTilesQuery interface {
	LogsWithIncompleteTiles(ctx context.Context, tileWidth, hashSize int) ([]scimtrail.LedgerHead, error)
}

func tenantIDs(ts []scimtrail.Tenant) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
