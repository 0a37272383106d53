package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of Listen: it doubles from minBackoff up to
// maxBackoff while connecting fails.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// closeTimeout bounds closing Listen's connection, which may be broken.
const closeTimeout = 5 * time.Second

// Listen calls wake whenever a Publish or Import on any instance committed
// new messages (a notification on the channel pusher_messages), and also
// each time it starts listening, as notifications sent while it was not
// are lost. It holds one connection of its own, outside the pool, and
// reconnects with backoff when the connection fails. It returns nil once
// ctx is done. wake must not block for long.
func (db *DB) Listen(ctx context.Context, wake func()) error {
	backoff := minBackoff
	for ctx.Err() == nil {
		if db.listenOnce(ctx, wake) {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(2*backoff, maxBackoff)
		}
	}
	return nil
}

// listenOnce connects, listens and calls wake on each notification until
// the connection fails or ctx is done. It reports whether it got to
// listen.
func (db *DB) listenOnce(ctx context.Context, wake func()) bool {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN pusher_messages`); err != nil {
		return false
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true
		}
		wake()
	}
}
