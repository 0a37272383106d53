// Command pusher is a self-hosted webhook subscription and delivery service
// that speaks the Zettle (iZettle/PayPal) Pusher API.
//
// Usage:
//
//	pusher serve          run the API and the delivery engine
//	pusher migrate        apply database migrations
//	pusher token          mint a bearer token signed with the local key
//	pusher publish        publish one event through the ingest API
//	pusher simulate       publish a realistic stream of shop events
//	pusher listen         run a local receiver that prints and verifies deliveries
//	pusher notifications  list the e-mail notices in the outbox
//	pusher subs           list, create, update, delete subscriptions; rotate keys; settings
//	pusher messages       list a subscription's messages (the delivery log)
//	pusher attempts       show one message's delivery attempts
//	pusher redeliver      deliver one message again
//	pusher replay         send retained events to a subscription again
//	pusher copy           copy a SQLite database to PostgreSQL
//	pusher version        print the version
//
// Run "pusher <command> -h" for a command's settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or "dev" is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "pusher:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pusher:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// env is how commands read the environment (os.Getenv in main, a map in tests).
type env func(string) string

// run executes one pusher command. It returns when the command is done or,
// for long-running commands, when ctx is cancelled and shutdown finished.
func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("no command given: %w", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "publish":
		return runPublish(ctx, rest, getenv, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, getenv, stdout, stderr)
	case "listen":
		return runListen(ctx, rest, getenv, stdout, stderr)
	case "notifications":
		return runNotifications(ctx, rest, getenv, stdout, stderr)
	case "copy":
		return runCopy(ctx, rest, getenv, stdout, stderr)
	case "subs", "subscriptions":
		return runSubs(ctx, rest, getenv, stdout, stderr)
	case "messages":
		return runMessages(ctx, rest, getenv, stdout, stderr)
	case "attempts":
		return runAttempts(ctx, rest, getenv, stdout, stderr)
	case "redeliver":
		return runRedeliver(ctx, rest, getenv, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, getenv, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "pusher", Version())
		return nil
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `pusher — webhook subscriptions and signed delivery, Zettle Pusher API compatible

Usage: pusher <command> [flags]

Commands:
  serve          run the API and the delivery engine
  migrate        apply database migrations and exit
  token          print a bearer token signed with the local key
  publish        publish one event through the ingest API
  simulate       publish a realistic stream of shop events
  listen         run a local receiver that prints and verifies deliveries
  notifications  list the e-mail notices in the outbox
  subs           list|create|update|delete|rotate-key|settings|stats subscriptions
  messages       list a subscription's messages, or the undelivered ones
  attempts       show one message's delivery attempts
  redeliver      deliver one message again
  replay         send retained events to a subscription again (--dry-run counts)
  copy           copy a SQLite database to PostgreSQL (to scale out)
  version        print the version

Run "pusher <command> -h" for the settings of a command.
`)
}

// Version returns the build's version.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// userAgent is the User-Agent of deliveries.
func userAgent() string { return "pusher/" + Version() + " (+https://github.com/pusher-hq/pusher)" }
