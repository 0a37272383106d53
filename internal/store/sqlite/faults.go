package sqlite

import (
	"errors"
	"fmt"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// errUnavailable is what a caller sees when the database cannot store
// anything now: the disk is full, the file became read-only or vanished,
// I/O failed, or the store is closing. The HTTP API answers it with 503 and
// Retry-After; nothing was stored, so the client retries.
var errUnavailable = webhook.Errorf(webhook.Unavailable, "Database cannot store data now, retry later")

// unavailableIfFault returns err with errUnavailable added when it is a
// fault of the database rather than of the request, and err otherwise.
func unavailableIfFault(err error) error {
	if isFault(err) && !webhook.IsCode(err, webhook.Unavailable) {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return err
}

// isFault reports whether err is a failure of the database or its disk.
func isFault(err error) bool {
	if errors.Is(err, errClosed) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_BUSY, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return true
	}
	return false
}

// faults remembers whether the last write that stored something failed
// with a fault, so Ping (and /readyz) report a full disk while writes fail:
// Ping's own empty transaction would succeed on a full disk.
type faults struct {
	err atomic.Pointer[error] // nil while writes succeed
}

// record notes the outcome of a committed batch that stored something.
func (f *faults) record(err error) {
	switch {
	case err == nil:
		f.err.Store(nil)
	case isFault(err):
		f.err.Store(&err)
	}
}

// last returns the fault of the last write that stored something, or nil.
func (f *faults) last() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}
