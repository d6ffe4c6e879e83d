package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints run here, on a connection of their own, instead of inside the writer's
// COMMIT. SQLite's automatic checkpoint (every 1,000 WAL pages) ran in the committing
// connection: two fsyncs and up to 1,000 page writes inside the single writer, the largest
// stall every batch queued behind it saw. The writer has wal_autocheckpoint=0.
//
// A PASSIVE checkpoint copies pages while the writer goes on committing, but the WAL
// starts over from its beginning only once every frame in it has been copied, which under
// continuous commits never happens on its own. So when the WAL has grown past
// Options.WALRestartPages, a second PASSIVE checkpoint runs while the writer is held between batches
// (commitMu): the first one copied nearly everything, the second copies only the frames
// committed meanwhile, and the writer's next transaction restarts the WAL.
const (
	// checkpointEvery is the least time between two checkpoints: each costs two fsyncs
	// whatever it copies, so the copying is gathered.
	checkpointEvery = 50 * time.Millisecond
	// restartFrames is the default of Options.WALRestartPages: 16 MiB of 4 KiB pages.
	restartFrames = 4096
)

// checkpointer runs until stop is closed, checkpointing after commits (wakeCkpt).
func (db *DB) checkpointer(stop <-chan struct{}) {
	defer close(db.ckptDone)
	restart := db.opts.WALRestartPages
	if restart <= 0 {
		restart = restartFrames
	}
	for {
		select {
		case <-stop:
			return
		case <-db.wakeCkpt:
		}
		frames, err := db.checkpoint()
		if err == nil && frames >= restart {
			db.commitMu.Lock()
			db.checkpoint()
			db.commitMu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's length in frames. A busy
// checkpoint (another process is checkpointing) or an error is left for the next one: it
// only delays copying pages, and the WAL keeps every committed change meanwhile.
func (db *DB) checkpoint() (frames int64, err error) {
	var busy, checkpointed int64
	err = db.ckpt.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &checkpointed)
	return frames, err
}

// committed tells the checkpointer that the WAL has grown.
func (db *DB) committed() {
	select {
	case db.wakeCkpt <- struct{}{}:
	default:
	}
}

// openCheckpointer opens the checkpointer's connection (not query_only: a checkpoint
// writes the database file) and starts it.
func (db *DB) openCheckpointer(path string, q string) error {
	ckpt, err := sql.Open("sqlite", path+"?"+q)
	if err != nil {
		return internal("cannot open the database", err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxLifetime(0)
	ckpt.SetConnMaxIdleTime(0)
	db.ckpt = ckpt
	db.wakeCkpt = make(chan struct{}, 1)
	db.stopCkpt = make(chan struct{})
	db.ckptDone = make(chan struct{})
	go db.checkpointer(db.stopCkpt)
	return nil
}

// closeCheckpointer stops the checkpointer and closes its connection.
func (db *DB) closeCheckpointer() error {
	close(db.stopCkpt)
	<-db.ckptDone
	return db.ckpt.Close()
}
