package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// suiteSpec sizes a suite: the runs are the same in every suite (see plan),
// the number of events differs.
type suiteSpec struct {
	events  int       // events per ingest run
	rates   []float64 // the fan-out 1 sweep, offered events/s; 0 = unpaced. The first is run repeats times
	repeats int
	// repeatEvents is the events of each run at the first rate: shorter
	// runs, so that fewer of them share the machine with something else.
	repeatEvents int
	backlog      int // events of the backlog drain
	// The profile runs: a backlog drain of profileBacklog events and an
	// unpaced fan-out 1 ingest of profileEvents, each profiled for the
	// window's length from its delay after the start.
	profileBacklog, profileEvents int
	backlogWindow, ingestWindow   [2]time.Duration
}

// suites are the suites -suite runs.
var suites = map[string]*suiteSpec{
	// docs regenerates docs/benchmarks.md, docs/benchmarks.png and the
	// README's performance table: about 4 minutes on 2 cores.
	"docs": {events: 20000, rates: []float64{1000, 2000, 4000, 6000, 0}, repeats: 3, repeatEvents: 10000, backlog: 100000,
		profileBacklog: 40000, profileEvents: 20000,
		backlogWindow: [2]time.Duration{time.Second, 4 * time.Second}, ingestWindow: [2]time.Duration{time.Second / 2, 2 * time.Second}},
	// quick runs the same with few events, to try the suite out.
	"quick": {events: 1000, rates: []float64{1000, 4000, 0}, repeats: 3, repeatEvents: 1000, backlog: 3000,
		profileBacklog: 3000, profileEvents: 2000,
		backlogWindow: [2]time.Duration{0, time.Second}, ingestWindow: [2]time.Duration{0, time.Second}},
}

func suiteNames() []string { return slices.Sorted(maps.Keys(suites)) }

// runKind says what part of a suite a run is.
type runKind int

const (
	kindSweep          runKind = iota // fan-out 1 at one of the rates (the repeats are the first rate)
	kindFanout3                       // fan-out 3 unpaced
	kindBare                          // the bare loop, fan-out 1 unpaced
	kindBacklog                       // the backlog drain
	kindProfileBacklog                // profiled, not in the tables
	kindProfileIngest
)

// suiteRun is one run of a suite.
type suiteRun struct {
	kind   runKind
	name   string // in the tables
	flags  string // the pusher-bench flags that make the same run
	rate   float64
	repeat int // 1-based among the runs of the first rate; 0 for the others
	c      config
}

// plan returns the runs of spec on the base configuration: the repeats of
// the first rate, the rest of the fan-out 1 sweep, fan-out 3 unpaced, the
// bare loop, the backlog drain and the two profiled runs. Every ingest
// publishes single events from 64 publishers. profileDir is where the
// profiles are written.
func plan(spec *suiteSpec, base config, profileDir string) []suiteRun {
	base.suite, base.bare, base.compareBare, base.bareRate = "", false, false, 0
	base.profile, base.debugAddr, base.backlog, base.rate = "", "", 0, 0
	base.batch, base.concurrency = 1, 64
	ingest := func(events, fanout int, rate float64) (config, string) {
		c := base
		c.events, c.fanout, c.rate = events, fanout, rate
		flags := fmt.Sprintf("-events %d -batch 1 -concurrency 64 -fanout %d", events, fanout)
		if rate > 0 {
			flags += fmt.Sprintf(" -rate %.0f", rate)
		}
		return c, flags
	}
	var runs []suiteRun
	for i, r := range spec.rates {
		n, events := 1, spec.events
		if i == 0 {
			n, events = spec.repeats, cmp.Or(spec.repeatEvents, spec.events)
		}
		for k := range n {
			c, flags := ingest(events, 1, r)
			run := suiteRun{kind: kindSweep, name: "fan-out 1, " + rateName(r), flags: flags, rate: r, c: c}
			if i == 0 && n > 1 {
				run.repeat = k + 1
				run.name += fmt.Sprintf(" #%d", k+1)
			}
			runs = append(runs, run)
		}
	}
	c, flags := ingest(spec.events, 3, 0)
	runs = append(runs, suiteRun{kind: kindFanout3, name: "fan-out 3, unpaced", flags: flags, c: c})
	c, flags = ingest(spec.events, 1, 0)
	c.bare = true
	runs = append(runs, suiteRun{kind: kindBare, name: "bare loop, fan-out 1, unpaced",
		flags: fmt.Sprintf("-events %d -fanout 1 -bare", spec.events), c: c})
	c = base
	c.backlog, c.events, c.fanout = spec.backlog, spec.backlog, 1
	runs = append(runs, suiteRun{kind: kindBacklog, name: fmt.Sprintf("backlog drain, %s events", thousands(float64(spec.backlog))),
		flags: fmt.Sprintf("-backlog %d -fanout 1", spec.backlog), c: c})

	c = base
	c.backlog, c.events, c.fanout = spec.profileBacklog, spec.profileBacklog, 1
	c.profile = filepath.Join(profileDir, "backlog.pprof")
	c.profileDelay, c.profileSeconds = spec.backlogWindow[0], spec.backlogWindow[1]
	runs = append(runs, suiteRun{kind: kindProfileBacklog, name: fmt.Sprintf("profile: backlog drain, %s events", thousands(float64(spec.profileBacklog))),
		flags: fmt.Sprintf("-backlog %d -fanout 1 %s", spec.profileBacklog, profileFlags(c)), c: c})
	c, flags = ingest(spec.profileEvents, 1, 0)
	c.profile = filepath.Join(profileDir, "ingest.pprof")
	c.profileDelay, c.profileSeconds = spec.ingestWindow[0], spec.ingestWindow[1]
	runs = append(runs, suiteRun{kind: kindProfileIngest, name: "profile: fan-out 1, unpaced ingest",
		flags: flags + " " + profileFlags(c), c: c})
	return runs
}

func profileFlags(c config) string {
	return fmt.Sprintf("-profile FILE -profile-delay %v -profile-seconds %v", c.profileDelay, c.profileSeconds)
}

// rateName names an offered rate: "1,000/s offered", or "unpaced".
func rateName(r float64) string {
	if r <= 0 {
		return "unpaced"
	}
	return thousands(r) + "/s offered"
}

// suiteResult is a run of a suite and what it measured.
type suiteResult struct {
	run      suiteRun
	s        runStats
	err      error       // the run finished with this (lost messages, a bad signature)
	profile  *profileTop // the profile runs' summary
	attempts int         // 1, or more when the run was repeated on a busy machine
}

// runSuiteRun runs r once and prints its progress lines, labelled label.
// The error is that of a run that measured nothing (or of an interrupt);
// what a run that measured reported is in the result.
func runSuiteRun(ctx context.Context, label string, r suiteRun) (suiteResult, error) {
	if err := ctx.Err(); err != nil {
		return suiteResult{}, err
	}
	progress("%s: pusher-bench %s", label, r.flags)
	c := r.c
	if c.profile != "" {
		var err error
		if c.debugAddr, err = freeLoopbackAddr(); err != nil {
			return suiteResult{}, err
		}
	}
	t0 := time.Now()
	s, err := runOnce(ctx, c, r.kind == kindBare)
	fmt.Println()
	if s.config == "" { // nothing measured
		return suiteResult{}, fmt.Errorf("%s: %w", r.name, err)
	}
	res := suiteResult{run: r, s: s, err: err}
	if err != nil {
		progress("%s: %v", label, err)
	}
	if c.profile != "" && err == nil {
		top, perr := summarizeProfile(c.profile)
		if perr != nil {
			res.err = perr
		} else {
			res.profile = &top
		}
	}
	progress("%s: %s (%v)", label, headline(s), time.Since(t0).Round(100*time.Millisecond))
	return res, nil
}

// runSuite builds the server once, runs the suite's runs one after the
// other, printing a progress line for each, and writes the docs, the README
// table and the chart from them. A run that measured nothing stops the
// suite before anything is written.
func runSuite(ctx context.Context, c config, spec *suiteSpec) error {
	started := time.Now()
	m := describeMachine(os.TempDir())
	tmp, err := os.MkdirTemp("", "pusher-bench-suite-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if c.bin, err = buildPusher(c.bin, tmp); err != nil {
		return err
	}
	runs := plan(spec, c, tmp)
	var results []suiteResult
	var errs []error
	for i, r := range runs {
		var res suiteResult
		for attempt := 1; ; attempt++ {
			if err := waitQuiet(ctx, c.quietCores, c.quietWait); err != nil {
				return err
			}
			label := fmt.Sprintf("[%d/%d] %s", i+1, len(runs), r.name)
			if res, err = runSuiteRun(ctx, label, r); err != nil {
				return err
			}
			res.attempts = attempt
			busy := res.s.otherCores
			if c.quietCores <= 0 || math.IsNaN(busy) || busy < c.quietCores || attempt > c.quietRepeats {
				break
			}
			progress("%s: other processes kept %.2f cores busy during the run: repeating it", label, busy)
		}
		if res.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, res.err))
		}
		results = append(results, res)
	}
	m.took = time.Since(started)
	gen := generated{machine: m, store: storeName(c), results: results, docsPath: c.docsPath, chartPath: c.chartPath}
	if err := writeChart(c.chartPath, chartPoints(results)); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := replaceMarkedFile(c.docsPath, gen.docs()); err != nil {
		return err
	}
	if err := replaceMarkedFile(c.readmePath, gen.readme()); err != nil {
		return err
	}
	progress("wrote %s, %s and the table in %s in %v", c.docsPath, c.chartPath, c.readmePath, m.took.Round(time.Second))
	return errors.Join(errs...)
}

// progress prints a suite progress line on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "suite: "+format+"\n", args...)
}

// headline is a run's numbers on one line.
func headline(s runStats) string {
	var b strings.Builder
	if s.backlog {
		fmt.Fprintf(&b, "drained %s msg/s (first→last arrival %s msg/s)", thousands(s.all), thousands(s.spanRate))
	} else {
		fmt.Fprintf(&b, "offered %s, delivered during ingest %s, overall %s msg/s; p50 %s p99 %s",
			thousands(s.offered), thousands(s.during), thousands(s.all), fmtLatency(s.p50), fmtLatency(s.p99))
	}
	if !math.IsNaN(s.cpuPerMsg) {
		fmt.Fprintf(&b, "; CPU %.0f µs/msg", s.cpuPerMsg)
	}
	if s.rssMiB != nil {
		fmt.Fprintf(&b, "; peak RSS %s MiB", formatRSS(s.rssMiB))
	}
	fmt.Fprintf(&b, "; lost %d, duplicated %d", s.lost, s.dups)
	if !math.IsNaN(s.otherCores) {
		fmt.Fprintf(&b, "; other processes kept %.2f cores busy", s.otherCores)
	}
	return b.String()
}

// storeName is the store the suite's servers run on.
func storeName(c config) string {
	if c.databaseURL != "" {
		return "PostgreSQL"
	}
	return "SQLite"
}

// waitQuiet waits, up to maxWait, until the other processes of the machine
// used less than cores cores over a second: a run measures pusher, not
// whatever else runs. It gives up (and says so) after maxWait; cores 0
// waits for nothing.
func waitQuiet(ctx context.Context, cores float64, maxWait time.Duration) error {
	if cores <= 0 {
		return nil
	}
	deadline := time.Now().Add(maxWait)
	announced := false
	for {
		busy, err := otherCoresOver(ctx, time.Second)
		if err != nil {
			return nil // not measurable here: do not wait
		}
		if busy < cores {
			if announced {
				progress("quiet now (other processes %.2f cores)", busy)
			}
			return nil
		}
		if time.Now().After(deadline) {
			progress("other processes still keep %.2f cores busy after waiting %v; running anyway", busy, maxWait)
			return nil
		}
		if !announced {
			progress("other processes keep %.2f cores busy; waiting up to %v for less than %.2f", busy, maxWait, cores)
			announced = true
		}
	}
}

// otherCoresOver returns how many cores the processes other than this one
// kept busy over d.
func otherCoresOver(ctx context.Context, d time.Duration) (float64, error) {
	before, err := sampleCPU(ctx, nil, nil)
	if err != nil {
		return 0, err
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	after, err := sampleCPU(ctx, nil, nil)
	if err != nil {
		return 0, err
	}
	other := after.machine - before.machine - (after.bench - before.bench)
	return cores(other, after.at.Sub(before.at)), nil
}
