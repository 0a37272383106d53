package simulate

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Summary is the outcome of a Run.
type Summary struct {
	Sent         int // events posted
	Acknowledged int // events the server accepted (messageIds received)
	// Duplicates counts acknowledged events the server reported as already
	// published: replaying a seed with the same Start repeats event ids.
	Duplicates int
	Errors     int // failed requests: non-202 answers and transport errors
	Requests   int
	LastError  string // the last failure, with the server's developerMessage
	ByEvent    map[string]int
	ByOrg      map[string]int
	Elapsed    time.Duration
	SizeStats  map[string]SizeStat // payload bytes per event name
}

// SizeStat describes the payload sizes, in bytes, of one event name.
type SizeStat struct {
	Count, Min, Median, Max int
}

// Write prints s as a few readable lines: totals, the last error, then the
// count and payload sizes per event name and the count per organization.
func (s Summary) Write(w io.Writer) {
	rate := float64(s.Acknowledged) / max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "sent %d events in %d requests over %s: %d acknowledged (%.1f/s), %d failed requests\n",
		s.Sent, s.Requests, s.Elapsed.Round(time.Millisecond), s.Acknowledged, rate, s.Errors)
	if s.Duplicates > 0 {
		fmt.Fprintf(w, "%d events were duplicates of earlier ones (same seed and start as an earlier run?)\n", s.Duplicates)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", s.LastError)
	}
	writeEventTable(w, s.ByEvent, s.SizeStats)
	fmt.Fprintf(w, "%-36s  %7s\n", "organization", "events")
	for _, org := range slices.Sorted(maps.Keys(s.ByOrg)) {
		fmt.Fprintf(w, "%-36s  %7d\n", org, s.ByOrg[org])
	}
}

// writeEventTable prints the count and payload sizes of each event name.
func writeEventTable(w io.Writer, counts map[string]int, sizes map[string]SizeStat) {
	fmt.Fprintf(w, "%-28s  %7s  %9s  %7s  %7s\n", "event", "count", "min bytes", "median", "max")
	for _, name := range eventNamesIn(counts) {
		st := sizes[name]
		fmt.Fprintf(w, "%-28s  %7d  %9d  %7d  %7d\n", name, counts[name], st.Min, st.Median, st.Max)
	}
}

// eventNamesIn returns the keys of counts, known event names first in
// documentation order.
func eventNamesIn(counts map[string]int) []string {
	var names []string
	for _, n := range EventNames() {
		if _, ok := counts[n]; ok {
			names = append(names, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// tally counts events per name and organization and keeps payload sizes.
type tally struct {
	byEvent map[string]int
	byOrg   map[string]int
	sizes   map[string][]int
}

func newTally() *tally {
	return &tally{byEvent: map[string]int{}, byOrg: map[string]int{}, sizes: map[string][]int{}}
}

func (t *tally) add(events []Event) {
	for _, e := range events {
		t.byEvent[e.EventName]++
		t.byOrg[e.OrganizationUUID]++
		t.sizes[e.EventName] = append(t.sizes[e.EventName], len(e.Payload))
	}
}

func (t *tally) sizeStats() map[string]SizeStat {
	stats := make(map[string]SizeStat, len(t.sizes))
	for name, sizes := range t.sizes {
		stats[name] = sizeStatOf(sizes)
	}
	return stats
}

func sizeStatOf(sizes []int) SizeStat {
	if len(sizes) == 0 {
		return SizeStat{}
	}
	sorted := slices.Sorted(slices.Values(sizes))
	return SizeStat{Count: len(sorted), Min: sorted[0], Median: sorted[len(sorted)/2], Max: sorted[len(sorted)-1]}
}
