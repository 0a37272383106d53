// Command sizereport prints the payload sizes of simulated events, per
// event name: by default 5000 streamed events of seed 7 for three
// organizations (as pusher simulate generates them by default), plus 100 of
// each disconnect event, which the stream never contains.
//
//	go run ./internal/simulate/cmd/sizereport [-seed 7] [-orgs 3] [-events 5000] [-disconnects 100]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func main() {
	seed := flag.Uint64("seed", 7, "seed of the simulated shop")
	orgs := flag.Int("orgs", 3, "organizations")
	n := flag.Int("events", 5000, "streamed events")
	disconnects := flag.Int("disconnects", 100, "events of each disconnect name, generated on their own")
	flag.Parse()
	if err := report(os.Stdout, *seed, *orgs, *n, *disconnects); err != nil {
		fmt.Fprintln(os.Stderr, "sizereport:", err)
		os.Exit(1)
	}
}

func report(w io.Writer, seed uint64, orgs, n, disconnects int) error {
	shop := simulate.NewShop(seed, simulate.Orgs(seed, orgs), simulate.DefaultStart(seed))
	var events []simulate.Event
	for len(events) < n {
		events = append(events, shop.Next()...)
	}
	events = events[:n]
	for _, name := range []string{webhook.ApplicationConnectionRemoved, webhook.PersonalAssertionDeleted} {
		for range disconnects {
			e, err := shop.NextOf(name)
			if err != nil {
				return err
			}
			events = append(events, e)
		}
	}
	sizes := map[string][]int{}
	for _, e := range events {
		sizes[e.EventName] = append(sizes[e.EventName], len(e.Payload))
	}
	fmt.Fprintf(w, "payload sizes, seed %d, %d streamed events for %d organizations + %d of each disconnect event\n",
		seed, n, orgs, disconnects)
	fmt.Fprintf(w, "%-28s  %7s  %9s  %7s  %7s\n", "event", "count", "min bytes", "median", "max")
	for _, name := range simulate.EventNames() {
		s := slices.Sorted(slices.Values(sizes[name]))
		if len(s) == 0 {
			continue
		}
		fmt.Fprintf(w, "%-28s  %7d  %9d  %7d  %7d\n", name, len(s), s[0], s[len(s)/2], s[len(s)-1])
	}
	return nil
}
