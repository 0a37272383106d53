package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is the lock file LockDir creates in the data directory.
const LockFileName = "pusher.lock"

// ErrLocked is returned (wrapped) by LockDir and Open when another process
// holds the data directory.
var ErrLocked = errors.New("data directory in use")

// LockDir takes an exclusive, non-blocking flock on dir/pusher.lock and
// writes this process's id into it; unlock releases it. The kernel releases
// the lock when the process dies, so a crash never leaves it behind. When
// another process holds it, the error wraps ErrLocked and names that
// process.
func LockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by %s; stop it first (one pusher serve per SQLite data directory; run several on PostgreSQL)",
				ErrLocked, dir, holderText(holder))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func holderText(pid []byte) string {
	if p := strings.TrimSpace(string(pid)); p != "" {
		return "process " + p
	}
	return "another process"
}
