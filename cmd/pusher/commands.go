package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store/postgres"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func runMigrate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Applies pending database migrations to the SQLite database (or the PostgreSQL\ndatabase of -database-url) and exits. pusher serve applies them at start too;\non PostgreSQL under a lock, so N instances starting together migrate once.", getenv, stderr)
	dataDir := dataDirFlag(fs)
	dbURL := databaseURLFlag(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	path, applied, err := migrateDatabase(ctx, *dbURL, *dataDir)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s is up to date\n", path)
	}
	for _, name := range applied {
		fmt.Fprintf(stdout, "applied %s to %s\n", name, path)
	}
	return nil
}

// migrateDatabase applies the migrations of the configured database and
// returns where it is and the migrations it applied.
func migrateDatabase(ctx context.Context, dbURL, dataDir string) (string, []string, error) {
	if dbURL != "" {
		if !isPostgres(dbURL) {
			return "", nil, fmt.Errorf("database-url %q: want a postgres:// URL", redactURL(dbURL))
		}
		applied, err := postgres.Migrate(ctx, dbURL)
		return redactURL(dbURL), applied, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, err
	}
	path := filepath.Join(dataDir, sqlite.FileName)
	applied, err := sqlite.Migrate(ctx, path)
	return path, applied, err
}

const tokenSummary = `Prints a bearer token signed with the local key in the data directory (the
key pusher serve uses when PUSHER_JWKS_URL is not set; created if missing).

  subscriber:  pusher token --org <uuid> --client my-app --scope "READ:PRODUCT READ:PURCHASE"
  producer:    pusher token --producer
  operator:    pusher token --admin  (scope PUSHER:ADMIN: the extension API, /v1/organizations/…,
               for every organization and client; with --org, "self" names that organization)`

func runToken(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", tokenSummary, getenv, stderr)
	dataDir := dataDirFlag(fs)
	org := fs.string("org", "", "", "organization UUID (claim organizationUuid); required unless --producer or --admin")
	client := fs.string("client", "", "cli", "OAuth client id (claim client_id); subscriptions belong to it")
	scope := fs.string("scope", "", strings.Join(subscriberScopes, " "), "space-separated scopes (claim scope)")
	producer := fs.bool("producer", "", false, "mint a producer token with scope "+auth.ScopePublish+" for the ingest API")
	admin := fs.bool("admin", "", false, "mint an operator token with scope "+auth.ScopeAdmin+" for the extension API of every organization (--org optional)")
	ttl := fs.duration("ttl", "", 2*time.Hour, "validity; Zettle's access tokens live 2 h")
	if err := fs.parse(args); err != nil {
		return err
	}
	claims := auth.Claims{OrganizationUUID: *org, ClientID: *client, Scope: strings.Fields(*scope)}
	switch {
	case *producer && *admin:
		return fmt.Errorf("--producer and --admin mint different tokens; choose one: %w", errUsage)
	case *producer:
		claims.Scope = []string{auth.ScopePublish}
		if *client == "cli" {
			claims.ClientID = "producer"
		}
	case *admin:
		claims.Scope = []string{auth.ScopeAdmin}
		if *client == "cli" {
			claims.ClientID = "admin"
		}
		if *org != "" && !webhook.IsUUID(*org) {
			return fmt.Errorf("--org must be an organization UUID: %w", errUsage)
		}
	case !webhook.IsUUID(*org):
		return fmt.Errorf("--org must be an organization UUID (or use --producer or --admin): %w", errUsage)
	}
	tok, err := mintToken(*dataDir, claims, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// subscriberScopes are the scopes of every public event.
var subscriberScopes = []string{webhook.ScopePurchase, webhook.ScopeProduct, webhook.ScopeUserInfo}

func mintToken(dataDir string, c auth.Claims, ttl time.Duration) (string, error) {
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		return "", err
	}
	return key.Mint(c, time.Now(), ttl)
}

// producerToken returns token, or mints a short-lived producer token with
// the local key when token is empty.
func producerToken(token, dataDir string) (string, error) {
	if token != "" {
		return token, nil
	}
	tok, err := mintToken(dataDir, auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Hour)
	if err != nil {
		return "", fmt.Errorf("no --token given and no local key to mint one: %w", err)
	}
	return tok, nil
}

func runNotifications(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("notifications", "Lists the e-mail notices and operator events in the outbox, newest first, sent or not\n(TO is operator-webhook for an operator event). Reads the database directly; safe while pusher serve runs.", getenv, stderr)
	dataDir := dataDirFlag(fs)
	dbURL := databaseURLFlag(fs)
	limit := fs.int("limit", "", 50, "how many notices to list")
	if err := fs.parse(args); err != nil {
		return err
	}
	db, err := openForReading(ctx, *dbURL, *dataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	ns, err := db.Notices(ctx, *limit)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		fmt.Fprintln(stdout, "no notices")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tKIND\tTO\tSUBSCRIPTION\tSTATE\tDETAIL")
	for _, n := range ns {
		state, detail := "unsent", n.Reason()
		if !n.SentAt.IsZero() {
			state = "sent " + n.SentAt.Format(time.RFC3339)
		} else if n.LastError != "" {
			state, detail = fmt.Sprintf("retrying (%d failed)", n.Attempts), n.LastError
		}
		to := n.To
		if n.Channel == webhook.ChannelOperator {
			to = "operator-webhook"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.CreatedAt.Format(time.RFC3339), n.Kind, to,
			n.SubscriptionUUID, state, detail)
	}
	return tw.Flush()
}
