package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const simulateSummary = `Publishes a realistic stream of Zettle events through the ingest API, as a set
of shops would produce it: purchases (and refunds), each followed by the inventory
changes it causes, occasional product creates, updates and deletes, and tracking
starts and stops. Deterministic for a --seed and --start. Ctrl-C stops cleanly
and prints the summary.

  pusher simulate --orgs 20 --rate 50/s --duration 1m --seed 7
  pusher simulate --orgs d3f03ffa-4a18-4282-bbfa-efd5f642ffb7 --rate 5/s`

func runSimulate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", simulateSummary, getenv, stderr)
	server := serverFlag(fs)
	token := fs.string("token", "PUSHER_TOKEN", "", "producer bearer token (scope PUSHER:PUBLISH); default: minted with the local key")
	dataDir := dataDirFlag(fs)
	orgsArg := fs.string("orgs", "", "3", "number of organizations, or a comma-separated list of organization UUIDs")
	rateArg := fs.string("rate", "", "20/s", "events per second in all, e.g. 50/s or 3000/m; 0 = as fast as the server takes them")
	duration := fs.duration("duration", "", 0, "stop after this long (0 = until Ctrl-C or --count)")
	count := fs.int("count", "", 0, "stop after this many events (0 = no limit)")
	seed := fs.int("seed", "", 1, "random seed: the same seed and --start give the same events")
	start := fs.string("start", "", "", "start of the simulated clock, RFC 3339 (default: now, so each run's event ids are new)")
	batch := fs.int("batch", "", 50, "events per request")
	concurrency := fs.int("concurrency", "", 4, "concurrent requests")
	if err := fs.parse(args); err != nil {
		return err
	}
	orgs, err := parseOrgs(*orgsArg, uint64(*seed))
	if err != nil {
		return err
	}
	rate, err := parseRate(*rateArg)
	if err != nil {
		return err
	}
	startAt := time.Now().UTC()
	if *start != "" {
		if startAt, err = time.Parse(time.RFC3339Nano, *start); err != nil {
			return fmt.Errorf("--start: %w", err)
		}
	}
	tok, err := producerToken(*token, *dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulating %d organization(s) at %s for %s against %s\n", len(orgs), *rateArg, durationText(*duration, *count), *server)
	sum, err := simulate.Run(ctx, simulate.Options{
		BaseURL: strings.TrimRight(*server, "/"), Token: tok, Orgs: orgs, Rate: rate, Duration: *duration, Count: *count,
		Seed: uint64(*seed), Start: startAt, Batch: *batch, Concurrency: *concurrency, Status: stderr,
	})
	fmt.Fprintln(stderr)
	sum.Write(stdout)
	return err
}

func durationText(d time.Duration, count int) string {
	switch {
	case count > 0 && d > 0:
		return fmt.Sprintf("%s or %d events", d, count)
	case count > 0:
		return fmt.Sprintf("%d events", count)
	case d > 0:
		return d.String()
	}
	return "until Ctrl-C"
}

// parseOrgs reads a count of generated organizations or a list of UUIDs.
func parseOrgs(arg string, seed uint64) ([]string, error) {
	if n, err := strconv.Atoi(arg); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("--orgs must be at least 1")
		}
		return simulate.Orgs(seed, n), nil
	}
	orgs := strings.Split(arg, ",")
	for i, o := range orgs {
		orgs[i] = strings.TrimSpace(o)
		if !webhook.IsUUID(orgs[i]) {
			return nil, fmt.Errorf("--orgs: %q is neither a count nor an organization UUID", o)
		}
	}
	return orgs, nil
}

// parseRate reads "50/s", "3000/m", "100/h" or a plain number per second.
func parseRate(arg string) (float64, error) {
	num, unit, hasUnit := strings.Cut(arg, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--rate %q: want a number of events per second such as 50/s", arg)
	}
	per := time.Second
	if hasUnit {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("--rate %q: unit must be s, m or h", arg)
		}
	}
	return n / per.Seconds(), nil
}
