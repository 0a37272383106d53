package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pusher-hq/pusher/internal/secrets"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
)

const copySummary = `Copies pusher's state from a SQLite database to PostgreSQL, to move a
single instance to N instances on one PostgreSQL:

  pusher copy --from data/pusher.db --to postgres://user:pass@db:5432/pusher

It copies every subscription (signing keys, status, failure state), every
undelivered message with its event, the dead letters and the unsent notices.
Delivered history is not copied. Stop pusher serve first: copy refuses to run
while a server holds the SQLite directory, and takes the directory itself
until it is done. It can be re-run: what is already in PostgreSQL is kept.`

// copyPage is how many messages copy reads and writes at a time.
const copyPage = 1000

func runCopy(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("copy", copySummary, getenv, stderr)
	from := fs.string("from", "", "", "the SQLite database file (data/pusher.db) or its data directory; required")
	to := fs.string("to", "", "", "the PostgreSQL URL to copy into; required")
	secretKey := fs.string("secret-key", "PUSHER_SECRET_KEY", "", "with it, signing keys are opened with it (or an old key) and sealed again with it in the copy")
	secretOld := fs.string("secret-key-old", "PUSHER_SECRET_KEY_OLD", "", "earlier secret keys, comma-separated")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("copy needs --from and --to: %w", errUsage)
	}
	if !isPostgres(*to) {
		return fmt.Errorf("--to %q: want a postgres:// URL", redactURL(*to))
	}
	src, err := openCopySource(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openDatabase(ctx, *to, "")
	if err != nil {
		return err
	}
	defer dst.Close()
	fmt.Fprintf(stdout, "copying %s to %s\n", *from, dst.where)
	if *secretKey == "" {
		return copyStore(ctx, src, dst, stdout)
	}
	sealer, err := secrets.NewSealer(*secretKey, splitList(*secretOld)...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "signing keys are sealed with PUSHER_SECRET_KEY in the copy")
	return copyStore(ctx, secrets.Store{Store: src, Sealer: sealer}, secrets.Store{Store: dst, Sealer: sealer}, stdout)
}

// openCopySource opens the SQLite database at path (a file or its
// directory), refusing when a server holds the directory.
func openCopySource(ctx context.Context, path string) (*sqlite.DB, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	} else if fi.IsDir() {
		path = filepath.Join(path, sqlite.FileName)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	db, err := sqlite.Open(ctx, path)
	if errors.Is(err, sqlite.ErrLocked) {
		return nil, fmt.Errorf("refusing to copy while pusher serve runs: %w", err)
	}
	return db, err
}

// copyStore copies subscriptions, then messages page by page, then notices,
// printing what it wrote and what was there already.
func copyStore(ctx context.Context, src, dst store.Store, out io.Writer) error {
	subs, err := src.AllSubscriptions(ctx)
	if err != nil {
		return err
	}
	c, err := dst.Import(ctx, store.ImportBatch{Subscriptions: subs})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subscriptions: %d copied, %d already there\n", c.Subscriptions, len(subs)-c.Subscriptions)
	if err := copyMessages(ctx, src, dst, out); err != nil {
		return err
	}
	ns, err := src.UnsentNotices(ctx)
	if err != nil {
		return err
	}
	if c, err = dst.Import(ctx, store.ImportBatch{Notices: ns}); err != nil {
		return err
	}
	fmt.Fprintf(out, "notices: %d copied, %d already there (unsent)\n", c.Notices, len(ns)-c.Notices)
	fmt.Fprintln(out, "done: start pusher serve with -database-url pointing at the copy")
	return nil
}

// copyMessages copies the undelivered messages and dead letters, a page at
// a time, each page in one transaction.
func copyMessages(ctx context.Context, src, dst store.Store, out io.Writer) error {
	read, wrote := 0, 0
	for after := int64(0); ; {
		ms, err := src.UndeliveredMessages(ctx, after, copyPage)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			fmt.Fprintf(out, "messages: %d copied, %d already there (undelivered and dead letters)\n", wrote, read-wrote)
			return nil
		}
		c, err := dst.Import(ctx, store.ImportBatch{Messages: ms})
		if err != nil {
			return err
		}
		read, wrote, after = read+len(ms), wrote+c.Messages, ms[len(ms)-1].ID
		if len(ms) == copyPage {
			fmt.Fprintf(out, "messages: %d read so far\n", read)
		}
	}
}
