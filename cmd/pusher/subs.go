package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pusher-hq/pusher/client"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The API commands (subs, messages, attempts, redeliver, replay) call a
// running server's REST API with the client package: human output by
// default, the API's own JSON with --json. An API error is returned as its
// developerMessage, so main prints it as one line "pusher: …".

// apiFlags are the flags every API command has.
type apiFlags struct {
	url, token, org *string
	json            *bool
}

// newAPIFlagSet is newFlagSet of an API command, with the apiFlags.
func newAPIFlagSet(name, summary string, getenv env, stderr io.Writer) (*flagSet, *apiFlags) {
	fs := newFlagSet(name, summary, getenv, stderr)
	a := &apiFlags{
		url:   fs.string("url", "PUSHER_URL", "http://localhost:8080", "base URL of the pusher server"),
		token: fs.string("token", "PUSHER_TOKEN", "", "bearer token (pusher token prints one; --admin for an operator)"),
		org:   fs.string("org", "", client.DefaultOrganization, "organization UUID, or self for the token's"),
		json:  fs.bool("json", "", false, "print the API's JSON instead of a table"),
	}
	fs.StringVar(a.url, "server", *a.url, "same as --url")
	return fs, a
}

func (a *apiFlags) client() (*client.Client, error) {
	if *a.token == "" {
		return nil, fmt.Errorf("no token: give --token or set PUSHER_TOKEN (pusher token prints one): %w", errUsage)
	}
	u, err := url.Parse(*a.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want the server's base URL, e.g. http://localhost:8080: %w", *a.url, errUsage)
	}
	return client.New(*a.url, *a.token, client.WithOrganization(*a.org), client.WithUserAgent("pusher-cli/"+Version())), nil
}

// connect parses args (see parseArgs) and returns the positional
// arguments and the client of the flags. Errors: parseArgs's and
// client's, usage errors all.
func (a *apiFlags) connect(fs *flagSet, args []string, names ...string) ([]string, *client.Client, error) {
	pos, err := parseArgs(fs, args, names...)
	if err != nil {
		return nil, nil, err
	}
	c, err := a.client()
	return pos, c, err
}

// fetch makes one API call, get, with a context that records the
// response body. Its error is made one line (apiError); with --json the
// body is printed, as the command's whole output, and printed is true.
func fetch[T any](ctx context.Context, a *apiFlags, stdout io.Writer, get func(context.Context) (T, error)) (v T, printed bool, err error) {
	var raw []byte
	v, err = get(client.WithResponseBody(ctx, &raw))
	if err != nil {
		return v, false, apiError(*a.url, err)
	}
	if *a.json {
		return v, true, printJSON(stdout, raw)
	}
	return v, false, nil
}

// newTable returns the tabwriter of the commands' tables, writing to w
// when flushed.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// parseArgs parses flags and positional arguments in any order and checks
// that there are exactly len(names) positional arguments.
func parseArgs(fs *flagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(fs.errs) > 0 {
		return nil, fs.errs[0]
	}
	if len(pos) != len(names) {
		fs.Usage()
		if len(pos) > len(names) {
			return nil, fmt.Errorf("unexpected argument %q: %w", pos[len(names)], errUsage)
		}
		return nil, fmt.Errorf("missing %s: %w", strings.Join(names[len(pos):], " and "), errUsage)
	}
	return pos, nil
}

// given reports whether the flag name was set on the command line.
func given(fs *flagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// apiError makes err one line for main to print: a *client.Error is its
// developerMessage, an unreachable server says so.
func apiError(base string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	var ae *client.Error
	switch {
	case errors.As(err, &ae):
		msg := strings.Join(strings.Fields(ae.Error()), " ")
		if ae.StatusCode == 401 && ae.DeveloperMessage == "" {
			msg = "the server refused the token (HTTP 401)"
		}
		return errors.New(msg)
	case errors.As(err, &ue) && !errors.Is(err, context.Canceled):
		return fmt.Errorf("cannot reach %s: %v", base, ue.Err)
	}
	return err
}

// printJSON prints an API answer, indented, keys and values as sent.
func printJSON(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(append(raw, '\n'))
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// listFlag is a flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// fmtTime shows an API time in UTC to the second; "-" for none.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func fmtEvents(names []string) string {
	if len(names) == 0 {
		return "all"
	}
	return strings.Join(names, ",")
}

const subsSummary = `Manages subscriptions through the server's API (Zettle's calls and pusher's
extensions). Subcommands:

  list                                 the organization's subscriptions, with backlog
  create --destination URL --email A [--event NAME]... [--uuid U]
                                       create (no --event: every event; uuid: a new v1)
  update UUID [--destination URL] [--email A] [--event NAME]... [--all-events]
                                       change only the given fields
  delete UUID                          delete
  rotate-key UUID [--overlap 24h]      new signing key; the old one signs during the overlap
  settings UUID [--strict-order=B] [--standard-webhooks=B] [--rotation-overlap D]
                                       show, or change the given, settings
  stats UUID                           deliveries, failures and latency of the last hour and day

Run "pusher subs <subcommand> -h" for its flags.`

func runSubs(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "Usage: pusher subs <subcommand> [flags]\n\n%s\n", subsSummary)
		if len(args) == 0 {
			return fmt.Errorf("subs: no subcommand given: %w", errUsage)
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list", "ls":
		return runSubsList(ctx, rest, getenv, stdout, stderr)
	case "create":
		return runSubsCreate(ctx, rest, getenv, stdout, stderr)
	case "update":
		return runSubsUpdate(ctx, rest, getenv, stdout, stderr)
	case "delete", "rm":
		return runSubsDelete(ctx, rest, getenv, stdout, stderr)
	case "rotate-key":
		return runSubsRotateKey(ctx, rest, getenv, stdout, stderr)
	case "settings":
		return runSubsSettings(ctx, rest, getenv, stdout, stderr)
	case "stats":
		return runSubsStats(ctx, rest, getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "Usage: pusher subs <subcommand> [flags]\n\n%s\n", subsSummary)
	return fmt.Errorf("subs: unknown subcommand %q: %w", sub, errUsage)
}

func runSubsList(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs list", "Lists the subscriptions the token may see in the organization, oldest first\n(GET /v1/organizations/{org}/subscriptions): a subscriber token's own, an\noperator token's of every client.", getenv, stderr)
	_, c, err := a.connect(fs, args)
	if err != nil {
		return err
	}
	subs, printed, err := fetch(ctx, a, stdout, c.OrganizationSubscriptions)
	if err != nil || printed {
		return err
	}
	if len(subs) == 0 {
		fmt.Fprintln(stdout, "no subscriptions")
		return nil
	}
	clients := map[string]bool{}
	for _, s := range subs {
		clients[s.ClientID] = true
	}
	showClient := len(clients) > 1
	tw := newTable(stdout)
	header := "UUID\tSTATUS\tEVENTS\tDESTINATION\tBACKLOG"
	if showClient {
		header += "\tCLIENT"
	}
	fmt.Fprintln(tw, header)
	for _, s := range subs {
		backlog := "-"
		if s.Backlog != nil {
			backlog = fmt.Sprint(*s.Backlog)
		}
		status := s.Status
		if s.Status == client.StatusFailing && !s.NextRetryAt.IsZero() {
			status += " (retry " + fmtTime(s.NextRetryAt) + ")"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", s.UUID, status, fmtEvents(s.EventNames), s.Destination, backlog)
		if showClient {
			line += "\t" + s.ClientID
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func runSubsCreate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs create", "Creates a subscription with Zettle's call (POST /organizations/{org}/subscriptions).\nThe server first sends a TestMessage to the destination, which must answer 2xx.\n\n  pusher subs create --destination https://shop.example/zettle --email ops@shop.example \\\n    --event PurchaseCreated --event InventoryBalanceChanged", getenv, stderr)
	var events listFlag
	fs.Var(&events, "event", "event name to subscribe to; repeat or comma-separate; none = every event")
	dest := fs.string("destination", "", "", "destination URL (required)")
	email := fs.string("email", "", "", "contact e-mail for failure notices (required)")
	id := fs.string("uuid", "", "", "subscription uuid, a version 1 UUID (default: a new one)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dest == "" || *email == "" {
		fs.Usage()
		return fmt.Errorf("--destination and --email are required: %w", errUsage)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if *id == "" {
		if *id, err = client.NewSubscriptionUUID(); err != nil {
			return err
		}
	}
	req := client.CreateRequest{UUID: *id, EventNames: events, Destination: *dest, ContactEmail: *email}
	s, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.Subscription, error) {
		return c.CreateSubscription(ctx, req)
	})
	if err != nil || printed {
		return err
	}
	fmt.Fprintf(stdout, "created subscription %s (%s)\n", s.UUID, s.Status)
	printSubscription(stdout, s)
	return nil
}

func printSubscription(w io.Writer, s *client.Subscription) {
	tw := newTable(w)
	fmt.Fprintf(tw, "  events:\t%s\n", fmtEvents(s.EventNames))
	fmt.Fprintf(tw, "  destination:\t%s\n", s.Destination)
	fmt.Fprintf(tw, "  contact e-mail:\t%s\n", s.ContactEmail)
	fmt.Fprintf(tw, "  status:\t%s\n", s.Status)
	fmt.Fprintf(tw, "  signing key:\t%s\n", s.SigningKey)
	tw.Flush()
}

func runSubsUpdate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs update", "Changes the given fields of a subscription with Zettle's call (PUT\n/organizations/{org}/subscriptions/{uuid}), then prints it as listed.\n\n  pusher subs update <uuid> --email team@shop.example", getenv, stderr)
	var events listFlag
	fs.Var(&events, "event", "new event names; repeat or comma-separate")
	all := fs.bool("all-events", "", false, "subscribe to every event (eventNames [])")
	dest := fs.string("destination", "", "", "new destination URL")
	email := fs.string("email", "", "", "new contact e-mail")
	pos, err := parseArgs(fs, args, "UUID")
	if err != nil {
		return err
	}
	var req client.UpdateRequest
	switch {
	case *all && len(events) > 0:
		return fmt.Errorf("--all-events and --event exclude each other: %w", errUsage)
	case *all:
		req.EventNames = []string{}
	case len(events) > 0:
		req.EventNames = events
	}
	req.Destination, req.ContactEmail = *dest, *email
	if req.EventNames == nil && req.Destination == "" && req.ContactEmail == "" {
		fs.Usage()
		return fmt.Errorf("nothing to update: give --destination, --email, --event or --all-events: %w", errUsage)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.UpdateSubscription(ctx, pos[0], req); err != nil {
		return apiError(*a.url, err)
	}
	var raw []byte
	subs, err := c.Subscriptions(client.WithResponseBody(ctx, &raw))
	if err != nil {
		return apiError(*a.url, err)
	}
	for i, s := range subs {
		if s.UUID != pos[0] {
			continue
		}
		if *a.json {
			var items []json.RawMessage
			if json.Unmarshal(raw, &items) == nil && len(items) == len(subs) {
				return printJSON(stdout, items[i])
			}
			b, _ := json.Marshal(s)
			return printJSON(stdout, b)
		}
		fmt.Fprintf(stdout, "updated subscription %s\n", s.UUID)
		printSubscription(stdout, &s)
		return nil
	}
	if !*a.json {
		fmt.Fprintf(stdout, "updated subscription %s\n", pos[0])
	}
	return nil
}

func runSubsDelete(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs delete", "Deletes a subscription with Zettle's call (DELETE\n/organizations/{org}/subscriptions/{uuid}). Its undelivered messages become\ndead letters, kept for the retention period. Prints nothing with --json.", getenv, stderr)
	pos, c, err := a.connect(fs, args, "UUID")
	if err != nil {
		return err
	}
	if err := c.DeleteSubscription(ctx, pos[0]); err != nil {
		return apiError(*a.url, err)
	}
	if !*a.json {
		fmt.Fprintf(stdout, "deleted subscription %s\n", pos[0])
	}
	return nil
}

func runSubsRotateKey(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs rotate-key", "Gives a subscription a new signing key (POST …/rotate-key). Deliveries are\nsigned with the new key at once; during the overlap they also carry\nX-Pusher-Previous-Signature, made with the old key.", getenv, stderr)
	overlap := fs.duration("overlap", "", 0, "how long the old key keeps signing, 0s–168h (default: the subscription's rotationOverlap setting)")
	pos, c, err := a.connect(fs, args, "UUID")
	if err != nil {
		return err
	}
	r, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.RotateKeyResult, error) {
		if given(fs, "overlap") {
			return c.RotateKeyWithOverlap(ctx, pos[0], *overlap)
		}
		return c.RotateKey(ctx, pos[0])
	})
	if err != nil || printed {
		return err
	}
	fmt.Fprintf(stdout, "new signing key: %s\n", r.SigningKey)
	fmt.Fprintf(stdout, "the previous key signs too (X-Pusher-Previous-Signature) until %s\n", fmtTime(r.PreviousKeyExpires))
	return nil
}

func runSubsSettings(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs settings", "Shows a subscription's pusher settings (GET …/settings), or changes the given\nones (PUT …/settings) and shows the result.\n\n  pusher subs settings <uuid> --standard-webhooks --rotation-overlap 48h", getenv, stderr)
	strict := fs.bool("strict-order", "", false, "one delivery in flight at a time, in creation order")
	std := fs.bool("standard-webhooks", "", false, "add the Standard Webhooks headers to deliveries")
	overlap := fs.duration("rotation-overlap", "", 0, "how long the previous key signs after a rotation, 0s–168h")
	pos, c, err := a.connect(fs, args, "UUID")
	if err != nil {
		return err
	}
	var u client.SettingsUpdate
	change := false
	if given(fs, "strict-order") {
		u.StrictOrder, change = strict, true
	}
	if given(fs, "standard-webhooks") {
		u.StandardWebhooks, change = std, true
	}
	if given(fs, "rotation-overlap") {
		u.RotationOverlap, change = overlap, true
	}
	s, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.Settings, error) {
		if change {
			return c.UpdateSettings(ctx, pos[0], u)
		}
		return c.Settings(ctx, pos[0])
	})
	if err != nil || printed {
		return err
	}
	tw := newTable(stdout)
	fmt.Fprintf(tw, "strictOrder:\t%t\n", s.StrictOrder)
	fmt.Fprintf(tw, "standardWebhooks:\t%t\n", s.StandardWebhooks)
	fmt.Fprintf(tw, "rotationOverlap:\t%s\n", webhook.CompactDuration(s.RotationOverlap))
	fmt.Fprintf(tw, "standardWebhooksSecret:\t%s\n", s.StandardWebhooksSecret)
	return tw.Flush()
}

func runSubsStats(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs, a := newAPIFlagSet("subs stats", "Shows a subscription's delivery statistics (GET …/stats): attempts delivered\nand failed, success rate and latency percentiles of the last hour and day,\nand its backlog of undelivered messages.", getenv, stderr)
	pos, c, err := a.connect(fs, args, "UUID")
	if err != nil {
		return err
	}
	s, printed, err := fetch(ctx, a, stdout, func(ctx context.Context) (*client.Stats, error) { return c.Stats(ctx, pos[0]) })
	if err != nil || printed {
		return err
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "WINDOW\tDELIVERED\tFAILED\tSUCCESS\tP50\tP95\tP99")
	for _, w := range []struct {
		name string
		s    client.StatsWindow
	}{{"last hour", s.LastHour}, {"last day", s.LastDay}} {
		rate := "-"
		if w.s.SuccessRate != nil {
			rate = fmt.Sprintf("%.1f%%", *w.s.SuccessRate*100)
		}
		p50, p95, p99 := "-", "-", "-"
		if l := w.s.LatencyMs; l != nil {
			p50, p95, p99 = fmt.Sprintf("%dms", l.P50), fmt.Sprintf("%dms", l.P95), fmt.Sprintf("%dms", l.P99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", w.name, w.s.Delivered, w.s.Failed, rate, p50, p95, p99)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "backlog: %d undelivered\n", s.Backlog)
	return nil
}
