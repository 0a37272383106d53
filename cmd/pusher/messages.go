package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/client"
)

const messagesSummary = `Lists a subscription's messages from the delivery log, newest first (GET
…/subscriptions/{uuid}/messages), or with --undelivered every pending, failing
and dead message of the organization (GET /v1/organizations/{org}/undelivered).
The subscription may have been deleted: its dead letters stay readable.

  pusher messages <subscription-uuid> --state failing
  pusher messages --undelivered --since 24h`

func runMessages(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("messages", messagesSummary, getenv, stderr)
	undelivered := fs.bool("undelivered", "", false, "the organization's undelivered messages, of every subscription (no UUID argument)")
	state := fs.string("state", "", "", "only messages in this state: pending, failing, delivered or dead")
	event := fs.string("event", "", "", "only messages of this event name")
	since := fs.string("since", "", "", "only messages created at or after this time: RFC 3339, a date, or a duration ago like 2h")
	until := fs.string("until", "", "", "only messages created before this time (same forms as --since)")
	limit := fs.int("limit", "", 0, "messages per page, 1–500 (default: the server's, 50)")
	cursor := fs.string("cursor", "", "", "start at this page (the cursor a previous page printed)")
	all := fs.bool("all", "", false, "follow the cursors and list every page")
	names := []string{"SUBSCRIPTION-UUID"}
	if hasFlag(args, "undelivered") {
		names = nil
	}
	pos, err := parseArgs(fs, args, names...)
	if err != nil {
		return err
	}
	f := client.MessageFilter{State: *state, EventName: *event, Limit: *limit, Cursor: *cursor}
	now := time.Now()
	if f.Since, err = parseWhen("since", *since, now); err != nil {
		return err
	}
	if f.Until, err = parseWhen("until", *until, now); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	page := func(ctx context.Context, f client.MessageFilter) (*client.MessagePage, error) {
		if *undelivered {
			return c.Undelivered(ctx, f)
		}
		return c.Messages(ctx, pos[0], f)
	}
	var msgs []client.Message
	var rawMsgs []json.RawMessage
	var raw []byte
	next := ""
	for {
		p, err := page(client.WithResponseBody(ctx, &raw), f)
		if err != nil {
			return apiError(*a.url, err)
		}
		msgs = append(msgs, p.Messages...)
		next = p.NextCursor
		if !*all {
			break
		}
		var rp struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(raw, &rp); err != nil {
			return err
		}
		rawMsgs = append(rawMsgs, rp.Messages...)
		if next == "" || next == f.Cursor {
			next = ""
			break
		}
		f.Cursor = next
	}
	if *a.json {
		if *all {
			if rawMsgs == nil {
				rawMsgs = []json.RawMessage{}
			}
			b, err := json.Marshal(map[string]any{"messages": rawMsgs})
			if err != nil {
				return err
			}
			raw = b
		}
		return printJSON(stdout, raw)
	}
	if len(msgs) == 0 {
		fmt.Fprintln(stdout, "no messages")
		return nil
	}
	tw := newTable(stdout)
	header := "MESSAGE ID\tEVENT\tSTATE\tATTEMPTS\tCREATED\tLAST OUTCOME\tNEXT ATTEMPT"
	if *undelivered {
		header = "MESSAGE ID\tSUBSCRIPTION\tEVENT\tSTATE\tATTEMPTS\tCREATED\tLAST OUTCOME\tNEXT ATTEMPT"
	}
	fmt.Fprintln(tw, header)
	for _, m := range msgs {
		sub := ""
		if *undelivered {
			sub = m.SubscriptionUUID + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%d\t%s\t%s\t%s\n", m.MessageID, sub, m.EventName, m.State, m.Attempts,
			fmtTime(m.Created), outcome(m.LastAttempt), nextAttempt(m))
	}
	tw.Flush()
	if next != "" {
		fmt.Fprintf(stdout, "more: add --cursor %s (or --all)\n", next)
	}
	return nil
}

// hasFlag reports whether args set the boolean flag name (to true).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimLeft(a, "-")
		if a == name || a == name+"=true" || a == name+"=1" {
			return true
		}
	}
	return false
}

// nextAttempt is when an undelivered message is tried next: a time, "now"
// (as soon as a worker is free) or "-" (delivered or dead).
func nextAttempt(m client.Message) string {
	switch {
	case m.State == client.StateDelivered || m.State == client.StateDead:
		return "-"
	case m.NextAttemptAt.IsZero():
		return "now"
	}
	return fmtTime(m.NextAttemptAt)
}

// outcome describes an attempt in a few words; "-" for none.
func outcome(a *client.Attempt) string {
	if a == nil {
		return "-"
	}
	switch {
	case a.Succeeded():
		return fmt.Sprintf("HTTP %d", a.StatusCode)
	case a.Error != "":
		return oneLine(a.Error)
	case a.StatusCode != 0:
		return fmt.Sprintf("HTTP %d", a.StatusCode)
	case a.ErrorClass != "":
		return a.ErrorClass
	}
	return "failed"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// parseWhen parses a --since or --until value: RFC 3339, a date
// (2006-01-02, UTC), or a duration meaning that long before now ("2h",
// "-2h" and "2h ago" alike). "" is the zero time.
func parseWhen(name, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if v == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(strings.TrimSpace(strings.TrimSuffix(v, "ago")), "-"))
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-12-01T12:00:00Z), a date or a duration ago (2h): %w", name, v, errUsage)
	}
	return now.Add(-d), nil
}

const attemptsSummary = `Shows one message and every delivery attempt of it, oldest first (GET
…/subscriptions/{uuid}/messages/{messageId}). --json prints the whole message,
with the envelope as delivered and the first 1 KiB of each response.

  pusher attempts <subscription-uuid> <message-id>`

func runAttempts(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("attempts", attemptsSummary, getenv, stderr)
	envelope := fs.bool("envelope", "", false, "also print the envelope as delivered")
	pos, c, err := a.connect(fs, args, "SUBSCRIPTION-UUID", "MESSAGE-ID")
	if err != nil {
		return err
	}
	m, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.MessageDetail, error) {
		return c.Message(ctx, pos[0], pos[1])
	})
	if err != nil || printed {
		return err
	}
	next := ""
	if n := nextAttempt(m.Message); n != "-" {
		next = ", next attempt " + n
	}
	fmt.Fprintf(stdout, "message %s: %s, %s, created %s%s\n", m.MessageID, m.EventName, m.State, fmtTime(m.Created), next)
	if len(m.AttemptList) == 0 {
		fmt.Fprintln(stdout, "no attempts yet")
	} else {
		tw := newTable(stdout)
		fmt.Fprintln(tw, "TIME\tDURATION\tSTATUS\tERROR\tREMOTE ADDR")
		for _, at := range m.AttemptList {
			status := "-"
			if at.StatusCode != 0 {
				status = fmt.Sprint(at.StatusCode)
			}
			remote := at.RemoteAddr
			if remote == "" {
				remote = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(at.At), fmtAttemptDuration(at), status, oneLine(at.Error), remote)
		}
		tw.Flush()
	}
	if *envelope && len(m.Envelope) > 0 {
		fmt.Fprintln(stdout, "envelope:")
		return printJSON(stdout, m.Envelope)
	}
	return nil
}

func runRedeliver(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("redeliver", "Makes a message due now for its subscription (POST …/messages/{messageId}/redeliver),\nwhatever its state, keeping its messageId. The subscription must still exist;\nfor a deleted one's dead letters use pusher replay --from-subscription.\n\n  pusher redeliver <subscription-uuid> <message-id>", getenv, stderr)
	pos, c, err := a.connect(fs, args, "SUBSCRIPTION-UUID", "MESSAGE-ID")
	if err != nil {
		return err
	}
	r, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.RedeliverResult, error) {
		return c.Redeliver(ctx, pos[0], pos[1])
	})
	if err != nil || printed {
		return err
	}
	fmt.Fprintf(stdout, "redelivering %s (%s, due now)\n", r.MessageID, r.State)
	return nil
}

const replaySummary = `Sends retained events of the organization to a subscription again, each with
its original messageId (POST …/subscriptions/{uuid}/replay): every event in
[--since, --until) it subscribes to, or only --event names, or with
--from-subscription only the dead letters of that (deleted) subscription.
--dry-run counts them and sends nothing. With --idempotency-key, repeating
the same request sends nothing again: give --since and --until as times then,
not durations ago or the default now, which change from call to call.

  pusher replay <subscription-uuid> --since 2026-12-01T00:00:00Z --until 2026-12-01T12:00:00Z --dry-run
  pusher replay <new-uuid> --since 24h --from-subscription <old-uuid>`

func runReplay(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("replay", replaySummary, getenv, stderr)
	since := fs.string("since", "", "", "events created at or after this time (required): RFC 3339, a date, or a duration ago like 2h")
	until := fs.string("until", "", "now", "events created before this time (same forms)")
	var events listFlag
	fs.Var(&events, "event", "only these event names; repeat or comma-separate (default: every event the subscription has)")
	from := fs.string("from-subscription", "", "", "only the dead letters of this subscription uuid")
	dry := fs.bool("dry-run", "", false, "count the events, send nothing")
	key := fs.string("idempotency-key", "", "", "a repeated request with this key sends nothing again")
	pos, err := parseArgs(fs, args, "SUBSCRIPTION-UUID")
	if err != nil {
		return err
	}
	if *since == "" {
		fs.Usage()
		return fmt.Errorf("--since is required: %w", errUsage)
	}
	now := time.Now()
	req := client.ReplayRequest{EventNames: events, FromSubscriptionUUID: *from, DryRun: *dry, IdempotencyKey: *key}
	if req.Since, err = parseWhen("since", *since, now); err != nil {
		return err
	}
	if req.Until, err = parseWhen("until", *until, now); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	r, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.ReplayResult, error) {
		return c.Replay(ctx, pos[0], req)
	})
	if err != nil || printed {
		return err
	}
	if r.DryRun {
		fmt.Fprintf(stdout, "would replay %s\n", plural(r.Count, "event"))
		return nil
	}
	fmt.Fprintf(stdout, "replayed %s\n", plural(r.Count, "event"))
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fmtAttemptDuration shows an attempt's duration: milliseconds below a
// second, Go's notation above.
func fmtAttemptDuration(a client.Attempt) string {
	if a.DurationMs < 1000 {
		return fmt.Sprintf("%dms", a.DurationMs)
	}
	return a.Duration().String()
}
