package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// runStats is the summary of one run: what the report prints and the
// Markdown row holds.
type runStats struct {
	config             string  // one-line description of the run
	events, messages   int     // published events; expected messages (events × fanout)
	arrived            int     // messages that arrived at least once
	offered            float64 // messages/s handed to pusher (or the bare senders) during ingest
	during, after, all float64 // delivered messages/s during ingest, after it, first publish → last arrival
	duringN            int     // messages that arrived during ingest
	ingest, drain      time.Duration
	elapsed            time.Duration // first publish → last arrival
	span               time.Duration // first arrival → last arrival
	maxGap             time.Duration // the longest time without a (first) arrival between the first and the last
	spanRate           float64       // delivered messages/s over span
	p50, p90, p95, p99 time.Duration // publish → first arrival
	pmax               time.Duration
	cpuPerMsg          float64   // µs of CPU per delivered message; NaN when not measured
	pusherCores        float64   // CPU time of pusher ÷ wall time of the run; NaN when not measured
	benchCores         float64   // the same for this process: publishers and receiver
	otherCores         float64   // the same for every other process of the machine
	rssMiB             []float64 // peak RSS of each pusher child; nil in bare mode
	lost, dups         int64
	backlog            bool // a -backlog run: no ingest, start and end are the server start
}

// summarize computes the rates, latencies, lost and duplicated counts of a
// run whose ingest res covered, from the receiver's first arrivals.
func summarize(config string, res publishResult, rcv *receiver) runStats {
	n := len(rcv.sent)
	s := runStats{config: config, events: n, messages: n * rcv.fanout, cpuPerMsg: math.NaN(),
		pusherCores: math.NaN(), benchCores: math.NaN(), otherCores: math.NaN()}
	var lat []time.Duration
	var arrivals []int64
	var first, last int64
	for sub := range rcv.fanout {
		for i := range n {
			a := rcv.first[sub][i].Load()
			if a == 0 {
				continue // never arrived
			}
			s.arrived++
			arrivals = append(arrivals, a)
			last = max(last, a)
			if first == 0 || a < first {
				first = a
			}
			if a <= res.end.UnixNano() {
				s.duringN++
			}
			lat = append(lat, time.Duration(a-rcv.sent[i].Load()))
		}
	}
	s.lost = int64(s.messages - s.arrived)
	s.dups = rcv.dups.Load()
	s.ingest = res.end.Sub(res.start)
	s.offered = rate(s.messages, s.ingest)
	s.during = rate(s.duringN, s.ingest)
	if last > 0 {
		s.elapsed = time.Unix(0, last).Sub(res.start)
		s.drain = max(0, time.Unix(0, last).Sub(res.end))
		s.span = time.Duration(last - first)
	}
	s.spanRate = rate(s.arrived, s.span)
	s.maxGap = longestGap(arrivals)
	s.after = rate(s.arrived-s.duringN, s.drain)
	s.all = rate(s.arrived, s.elapsed)
	s.p50, s.p90, s.p95, s.p99, s.pmax = pct(lat, 50), pct(lat, 90), pct(lat, 95), pct(lat, 99), pct(lat, 100)
	return s
}

// longestGap returns the longest interval between consecutive times (unix
// ns, in any order), 0 for fewer than two.
func longestGap(times []int64) time.Duration {
	s := slices.Clone(times)
	slices.Sort(s)
	var gap int64
	for i := 1; i < len(s); i++ {
		gap = max(gap, s[i]-s[i-1])
	}
	return time.Duration(gap)
}

// rate returns n per second of d, or 0 when n or d is 0.
func rate(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// pct returns the p-th percentile (nearest rank) of ds, rounded to 100 µs;
// p=100 is the maximum. It returns 0 for no durations.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(100 * time.Microsecond)
}

// printStats prints the rates, latencies, lost and duplicated counts and
// peak RSS of s.
func printStats(s runStats) {
	fmt.Printf("events=%d fanout=%d messages=%d arrived=%d elapsed=%v\n",
		s.events, s.messages/max(s.events, 1), s.messages, s.arrived, s.elapsed.Round(time.Millisecond))
	if s.backlog {
		fmt.Printf("drain: %.0f msg/s from the server start (%d in %v), %.0f msg/s from the first arrival to the last (%v)\n",
			s.all, s.arrived, s.elapsed.Round(time.Millisecond), s.spanRate, s.span.Round(time.Millisecond))
	} else {
		fmt.Printf("rate: offered %.0f msg/s, delivered during ingest %.0f msg/s (%d in %v), after %.0f msg/s (%d in %v), overall %.0f msg/s\n",
			s.offered, s.during, s.duringN, s.ingest.Round(100*time.Microsecond),
			s.after, s.arrived-s.duringN, s.drain.Round(100*time.Microsecond), s.all)
	}
	fmt.Printf("latency p50=%v p90=%v p95=%v p99=%v max=%v; longest pause between arrivals %v\n",
		s.p50, s.p90, s.p95, s.p99, s.pmax, s.maxGap.Round(100*time.Microsecond))
	fmt.Printf("lost=%d duplicated=%d\n", s.lost, s.dups)
	if s.rssMiB != nil {
		fmt.Printf("peak RSS (VmHWM) of each pusher child: %s MiB\n", formatRSS(s.rssMiB))
	}
}

// formatRSS returns the peak RSS values joined by " / ", "?" for one not
// measured.
func formatRSS(mib []float64) string {
	var parts []string
	for _, v := range mib {
		if math.IsNaN(v) {
			parts = append(parts, "?")
		} else {
			parts = append(parts, fmt.Sprintf("%.1f", v))
		}
	}
	return strings.Join(parts, " / ")
}

// markdownHeader is the header of the table -markdown appends to.
const markdownHeader = "| Configuration | Offered msg/s | Delivered during ingest msg/s | Delivered after ingest msg/s | " +
	"Delivered overall msg/s | p50 | p95 | p99 | CPU µs/msg | Peak RSS MiB | Lost | Duplicated |\n" +
	"|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"

// markdownRow returns s as one row of the markdownHeader table.
func markdownRow(s runStats) string {
	cpu, rss := "—", "—"
	if !math.IsNaN(s.cpuPerMsg) {
		cpu = fmt.Sprintf("%.0f", s.cpuPerMsg)
	}
	if s.rssMiB != nil {
		rss = formatRSS(s.rssMiB)
	}
	cfg := strings.ReplaceAll(s.config, "|", `\|`)
	offered, during := fmt.Sprintf("%.0f", s.offered), fmt.Sprintf("%.0f", s.during)
	if s.backlog { // no ingest: the drain is "after"
		offered, during = "—", "—"
	}
	return fmt.Sprintf("| %s | %s | %s | %.0f | %.0f | %v | %v | %v | %s | %s | %d | %d |\n",
		cfg, offered, during, s.after, s.all, s.p50, s.p95, s.p99, cpu, rss, s.lost, s.dups)
}

// appendMarkdown appends the row of s to the file at path, writing the
// table header first when the file does not exist or is empty.
func appendMarkdown(path string, s runStats) error {
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	text := markdownRow(s)
	if err != nil || st.Size() == 0 {
		text = markdownHeader + text
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
