package sqlite

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/scimtrail/scimtrail"
)

// unavailable marks err as scimtrail.ErrUnavailable when SQLite could not use its files:
// an I/O error, a full disk, a file it cannot open, or a lock it could not get within
// busy_timeout. None of these is the request's fault, and each may pass (space freed, a
// volume back), so the client is told to retry (503). Other errors are returned unchanged.
func unavailable(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary result code of an extended one
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY:
		return scimtrail.Unavailable(err)
	}
	return err
}

// outcome is the error a write returns to its caller: classified, and remembered, so that
// Ping can tell that writes are failing although reads work (a full disk).
func (db *DB) outcome(err error) error {
	err = unavailable(err)
	switch {
	case err == nil:
		db.writesFailing.Store(false)
	case errors.Is(err, scimtrail.ErrUnavailable):
		db.writesFailing.Store(true)
	}
	return err
}

// probeWrites, while the last write failed for want of disk or I/O, commits a write that
// changes nothing (the header's user_version, set to its own value) to learn whether
// writes work again: without it a replica that is not ready gets no traffic, so no
// ordinary write would ever show that it has recovered.
func (db *DB) probeWrites(ctx context.Context) error {
	if !db.writesFailing.Load() {
		return nil
	}
	return db.Update(ctx, "", func(tx scimtrail.Tx) error {
		t := tx.(*txn)
		var v int64
		if err := t.queryRow(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return dbErr("probing writes", err)
		}
		// PRAGMA takes no placeholders; v is the integer just read.
		_, err := t.exec(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return dbErr("probing writes", err)
	})
}
