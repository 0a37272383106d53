package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The markers around the generated part of a file -suite rewrites; what is
// outside them is left as it is.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// suiteCommand is the command the docs say regenerates them.
const suiteCommand = "go run ./cmd/pusher-bench -suite docs"

// replaceMarked returns doc with the text between its one beginMarker and
// its one endMarker replaced by content.
func replaceMarked(doc, content string) (string, error) {
	nb, ne := strings.Count(doc, beginMarker), strings.Count(doc, endMarker)
	if nb != 1 || ne != 1 {
		return "", fmt.Errorf("want one %s and one %s, found %d and %d", beginMarker, endMarker, nb, ne)
	}
	i, j := strings.Index(doc, beginMarker)+len(beginMarker), strings.Index(doc, endMarker)
	if j < i {
		return "", fmt.Errorf("%s comes before %s", endMarker, beginMarker)
	}
	return doc[:i] + "\n" + strings.Trim(content, "\n") + "\n" + doc[j:], nil
}

// replaceMarkedFile rewrites the generated part of the file at path.
func replaceMarkedFile(path, content string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceMarked(string(data), content)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out), st.Mode().Perm())
}

// thousands formats v rounded to an integer with thousands separators:
// 12345.6 → "12,346"; NaN → "—".
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v <= -0.5 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtLatency formats a latency for the tables: "0.4 ms", "7.0 ms",
// "48 ms", "5.10 s".
func fmtLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtFloat formats v with prec decimals, "—" for NaN.
func fmtFloat(v float64, prec int) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// generated renders the generated parts of the docs and the README from a
// suite's results.
type generated struct {
	machine             machine
	store               string
	results             []suiteResult
	docsPath, chartPath string
}

// measured returns the results in the tables: all but the profile runs.
func (g generated) measured() []suiteResult {
	var out []suiteResult
	for _, r := range g.results {
		if r.run.kind < kindProfileBacklog {
			out = append(out, r)
		}
	}
	return out
}

// find returns the first result of kind, nil if there is none.
func (g generated) find(kind runKind) *suiteResult {
	for i := range g.results {
		if g.results[i].run.kind == kind {
			return &g.results[i]
		}
	}
	return nil
}

// sweep returns the fan-out 1 sweep's results with rate r (0 = unpaced).
func (g generated) sweep(r float64) []suiteResult {
	var out []suiteResult
	for _, res := range g.results {
		if res.run.kind == kindSweep && res.run.rate == r {
			out = append(out, res)
		}
	}
	return out
}

// repeats returns the repeated runs of the sweep's first rate.
func (g generated) repeats() []suiteResult {
	var out []suiteResult
	for _, res := range g.results {
		if res.run.kind == kindSweep && res.run.repeat > 0 {
			out = append(out, res)
		}
	}
	return out
}

// highestPaced returns the sweep's results at its highest paced rate, or
// nil.
func (g generated) highestPaced() []suiteResult {
	var top float64
	for _, res := range g.results {
		if res.run.kind == kindSweep {
			top = max(top, res.run.rate)
		}
	}
	if top == 0 {
		return nil
	}
	return g.sweep(top)
}

// bar is one of issue 11's targets and what the suite measured for it.
type bar struct{ what, target, measured, met string }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// bars compares the results with the targets of issue 11.
func (g generated) bars() []bar {
	var out []bar
	if hp := g.highestPaced(); hp != nil {
		s := hp[0].s
		b := bar{what: fmt.Sprintf("Delivered while ingest runs at %s", rateName(hp[0].run.rate)),
			target:   "≥ 4,000 msg/s",
			measured: fmt.Sprintf("%s msg/s (ingest accepted %s msg/s)", thousands(s.during), thousands(s.offered)),
			met:      yesNo(s.during >= 4000)}
		if s.offered < 0.95*hp[0].run.rate {
			b.met += " (the ingest did not reach the offered rate)"
		}
		out = append(out, b)
	}
	if reps := g.repeats(); len(reps) > 0 {
		var p99s, gaps []string
		ok := true
		for _, r := range reps {
			p99s = append(p99s, fmtLatency(r.s.p99))
			gaps = append(gaps, fmtLatency(r.s.maxGap))
			ok = ok && r.s.p99 < 50*time.Millisecond && r.s.lost == 0
		}
		out = append(out, bar{what: fmt.Sprintf("p99 latency at %s, fan-out 1, %d repeats", rateName(reps[0].run.rate), len(reps)),
			target:   "< 50 ms in every repeat",
			measured: strings.Join(p99s, " / ") + " (longest pause between arrivals " + strings.Join(gaps, " / ") + ")",
			met:      yesNo(ok)})
	}
	var cpus []float64
	var worst string
	for _, r := range g.measured() {
		if r.run.kind == kindBare || math.IsNaN(r.s.cpuPerMsg) {
			continue
		}
		cpus = append(cpus, r.s.cpuPerMsg)
		if r.s.cpuPerMsg == slices.Max(cpus) {
			worst = r.run.name
		}
	}
	if len(cpus) > 0 {
		above := 0
		for _, v := range cpus {
			if v > 300 {
				above++
			}
		}
		met := yesNo(above == 0)
		if above > 0 {
			met += fmt.Sprintf(" (%d of %d runs above)", above, len(cpus))
		}
		measured := fmt.Sprintf("%.0f–%.0f µs (most: %s)", slices.Min(cpus), slices.Max(cpus), worst)
		if bl := g.find(kindBacklog); bl != nil && !math.IsNaN(bl.s.cpuPerMsg) {
			measured += fmt.Sprintf("; backlog drain %.0f µs", bl.s.cpuPerMsg)
		}
		out = append(out, bar{what: "CPU per delivered message (pusher" + g.postgresNote() + "), every pusher run",
			target: "≤ 300 µs", measured: measured, met: met})
	}
	if bl := g.find(kindBacklog); bl != nil {
		s := bl.s
		out = append(out, bar{what: fmt.Sprintf("Drain of a %s-message backlog", thousands(float64(s.messages))),
			target: "≥ 6,000 msg/s",
			measured: fmt.Sprintf("%s msg/s from the server start (%s msg/s first → last arrival)",
				thousands(s.all), thousands(s.spanRate)),
			met: yesNo(s.all >= 6000 && s.lost == 0)})
		peak := math.NaN()
		for _, v := range s.rssMiB {
			if math.IsNaN(peak) || v > peak {
				peak = v
			}
		}
		out = append(out, bar{what: "Peak RSS of pusher during that drain", target: "< 100 MiB",
			measured: fmtFloat(peak, 1) + " MiB", met: yesNo(peak < 100)})
	}
	var lost, dups int64
	for _, r := range g.results {
		lost += r.s.lost
		dups += r.s.dups
	}
	out = append(out, bar{what: fmt.Sprintf("Lost / duplicated messages, all %d runs", len(g.results)),
		target: "0 / 0", measured: fmt.Sprintf("%d / %d", lost, dups), met: yesNo(lost == 0 && dups == 0)})
	return out
}

// postgresNote names PostgreSQL in the CPU column's description when the
// runs used it.
func (g generated) postgresNote() string {
	if g.store == "PostgreSQL" {
		return " and every postgres process"
	}
	return ""
}

// ratios returns the lines stating R = pusher ÷ bare.
func (g generated) ratios() []string {
	bare := g.find(kindBare)
	if bare == nil || bare.s.all == 0 {
		return nil
	}
	var out []string
	if un := g.sweep(0); len(un) > 0 {
		out = append(out, fmt.Sprintf("R = pusher ÷ bare, fan-out 1 unpaced, delivered overall: %s ÷ %s = **%.2f**",
			thousands(un[0].s.all), thousands(bare.s.all), un[0].s.all/bare.s.all))
	}
	if bl := g.find(kindBacklog); bl != nil {
		out = append(out, fmt.Sprintf("R for the backlog drain (pusher delivering only, no ingest): %s ÷ %s = **%.2f**",
			thousands(bl.s.all), thousands(bare.s.all), bl.s.all/bare.s.all))
	}
	return out
}

// resultsHeader is the header of the docs' results table.
const resultsHeader = "| Run | Offered msg/s | Delivered during ingest msg/s | Delivered after ingest msg/s | Delivered overall msg/s | " +
	"p50 | p95 | p99 | CPU µs/msg | Cores busy: pusher / bench / other | Peak RSS MiB | Lost | Duplicated |\n" +
	"|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"

// resultsRow returns one row of the resultsHeader table.
func resultsRow(name string, s runStats) string {
	offered, during := thousands(s.offered), thousands(s.during)
	if s.backlog {
		offered, during = "—", "—"
	}
	rss := "—"
	if s.rssMiB != nil {
		rss = formatRSS(s.rssMiB)
	}
	coresBusy := "—"
	if !math.IsNaN(s.pusherCores) {
		coresBusy = fmtFloat(s.pusherCores, 2) + " / " + fmtFloat(s.benchCores, 2) + " / " + fmtFloat(s.otherCores, 2)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n",
		strings.ReplaceAll(name, "|", `\|`), offered, during, thousands(s.after), thousands(s.all),
		fmtLatency(s.p50), fmtLatency(s.p95), fmtLatency(s.p99), fmtFloat(s.cpuPerMsg, 0), coresBusy, rss, s.lost, s.dups)
}

// header is the line that opens each generated part.
func (g generated) header() string {
	dirty := ""
	if g.machine.dirty {
		dirty = " with uncommitted changes"
	}
	return fmt.Sprintf("_Generated by `%s` on %s at commit `%s`%s (%d CPUs, %s; the suite took %v). "+
		"Do not edit between the bench markers: rerun the command._",
		suiteCommand, g.machine.date, g.machine.commit, dirty, g.machine.cpus, g.store, g.machine.took.Round(time.Second))
}

// serverLine describes the servers and the ingest every run shares.
func (g generated) serverLine() string {
	var c config
	if len(g.results) > 0 {
		c = g.results[0].run.c
	}
	flags := fmt.Sprintf("-workers %d -per-subscription %d -ingest-rate 0", c.workers, c.perSub)
	if c.serveFlags != "" {
		flags += " " + c.serveFlags
	}
	return fmt.Sprintf("Every run starts `pusher serve %s` on %s (a fresh data directory or schema), "+
		"with one subscription per fan-out to the bench's receiver, which verifies every signature. "+
		"Ingest runs publish single events (`-batch 1`) from 64 concurrent publishers.", flags, g.store)
}

// docs returns the generated part of docs/benchmarks.md.
func (g generated) docs() string {
	var b strings.Builder
	m := g.machine
	b.WriteString(g.header() + "\n\n")
	b.WriteString("### Machine\n\n| | |\n|---|---|\n")
	cpu := fmt.Sprintf("%d", m.cpus)
	if m.cpuModel != "" {
		cpu += " × " + m.cpuModel
	}
	if m.vm {
		cpu += " (virtual machine)"
	}
	rows := [][2]string{{"CPUs", cpu}, {"Memory", m.memory}, {"Go", m.goVersion}, {"Kernel", m.kernel},
		{"Data directories in", m.tmpFS}, {"Load average before the suite", m.load}}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
		}
	}
	b.WriteString("\n### Targets\n\n")
	b.WriteString("The targets of issue 11, for the record (benchmark figures on this machine, not test assertions):\n\n")
	b.WriteString("| | Target | Measured | Met |\n|---|---|---|---|\n")
	for _, t := range g.bars() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.what, t.target, t.measured, t.met)
	}
	b.WriteString("\n### Results\n\n" + g.serverLine() + " Each run once, in this order:\n\n")
	b.WriteString(resultsHeader)
	for _, r := range g.measured() {
		b.WriteString(resultsRow(r.run.name, r.s))
	}
	b.WriteString("\n")
	for _, l := range g.ratios() {
		b.WriteString(l + "  \n")
	}
	b.WriteString("\nThe `pusher-bench` flags of each run (the suite adds `-bin` with the server it built once):\n\n")
	for _, r := range g.results {
		fmt.Fprintf(&b, "- %s: `%s`\n", r.run.name, r.run.flags)
	}
	var repeated []string
	for _, r := range g.results {
		if r.attempts > 1 {
			repeated = append(repeated, fmt.Sprintf("%s (%d attempts)", r.run.name, r.attempts))
		}
	}
	if len(repeated) > 0 {
		b.WriteString("\nRepeated because other processes of the machine were busy during the earlier attempts " +
			"(the tables show the last attempt): " + strings.Join(repeated, ", ") + ".\n")
	}
	var failed []string
	for _, r := range g.results {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("- %s: %v", r.run.name, r.err))
		}
	}
	if len(failed) > 0 {
		b.WriteString("\nThese runs reported errors:\n\n" + strings.Join(failed, "\n") + "\n")
	}
	if chart := g.chartLink(); chart != "" {
		b.WriteString("\n### Chart\n\n")
		b.WriteString("Delivered rate and latency against the offered load, fan-out 1 sweep (at the repeated rate, the median of the repeats):\n\n")
		fmt.Fprintf(&b, "![Delivered msg/s and latency percentiles against offered msg/s](%s)\n", chart)
	}
	g.writeProfiles(&b)
	return b.String()
}

// chartLink returns the chart's path relative to the docs file.
func (g generated) chartLink() string {
	if g.chartPath == "" {
		return ""
	}
	rel, err := filepath.Rel(filepath.Dir(g.docsPath), g.chartPath)
	if err != nil {
		return filepath.ToSlash(g.chartPath)
	}
	return filepath.ToSlash(rel)
}

// profileRows is how many packages and functions a profile summary lists.
const profileRows = 12

// writeProfiles writes the summaries of the profiled runs.
func (g generated) writeProfiles(b *strings.Builder) {
	first := true
	for _, r := range g.results {
		if r.profile == nil {
			continue
		}
		if first {
			b.WriteString("\n### Profiles\n\n")
			b.WriteString("CPU profiles of pusher (pprof through `-debug-addr`), from runs of their own so the profiler " +
				"does not touch the numbers above. Flat CPU time, summed by package and by function, as a share of all samples.\n")
			first = false
		}
		p := r.profile
		fmt.Fprintf(b, "\n#### %s\n\n`pusher-bench %s`: %s.\n\n", strings.TrimPrefix(r.run.name, "profile: "), r.run.flags, headline(r.s))
		if len(p.header) > 0 {
			fmt.Fprintf(b, "pprof: %s\n\n", strings.Join(p.header, "; "))
		}
		b.WriteString("| Package | Flat CPU | Share |\n|---|--:|--:|\n")
		for _, e := range p.packages[:min(profileRows, len(p.packages))] {
			fmt.Fprintf(b, "| `%s` | %v | %.1f%% |\n", e.name, e.flat.Round(10*time.Millisecond), share(e.flat, p.total))
		}
		b.WriteString("\n| Function | Flat CPU | Share |\n|---|--:|--:|\n")
		for _, e := range p.functions[:min(profileRows, len(p.functions))] {
			fmt.Fprintf(b, "| `%s` | %v | %.1f%% |\n", strings.ReplaceAll(e.name, "|", `\|`), e.flat.Round(10*time.Millisecond), share(e.flat, p.total))
		}
		if len(p.own) > 0 {
			b.WriteString("\nWhere that time is spent from pusher's side: its own functions by cumulative CPU " +
				"(the time in them and in everything they call; nested functions overlap):\n\n")
			b.WriteString("| Function | Cumulative CPU | Share |\n|---|--:|--:|\n")
			for _, e := range p.own[:min(profileRows, len(p.own))] {
				name := strings.TrimPrefix(e.name, ownModule)
				fmt.Fprintf(b, "| `%s` | %v | %.1f%% |\n", strings.ReplaceAll(name, "|", `\|`), e.cum.Round(10*time.Millisecond), share(e.cum, p.total))
			}
		}
	}
}

// share returns part of total in percent.
func share(part, total time.Duration) float64 {
	if total <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(total)
}

// readme returns the generated part of the README's performance section.
func (g generated) readme() string {
	var b strings.Builder
	b.WriteString(g.header() + "\n\n")
	b.WriteString(g.serverLine() + " Rates are messages (events × fan-out) per second; " +
		"chart, profiles and every column in [docs/benchmarks.md](docs/benchmarks.md).\n\n")
	b.WriteString("| Run | Offered | Delivered during ingest / overall | Latency p50 / p99 | CPU per message | Peak RSS | Lost / duplicated |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range g.measured() {
		s := r.s
		offered, delivered := thousands(s.offered)+" msg/s", thousands(s.during)+" / "+thousands(s.all)+" msg/s"
		if s.backlog {
			offered, delivered = "—", "drained at "+thousands(s.all)+" msg/s"
		}
		rss := "—"
		if s.rssMiB != nil {
			rss = formatRSS(s.rssMiB) + " MiB"
		}
		cpu := "—"
		if !math.IsNaN(s.cpuPerMsg) {
			cpu = fmt.Sprintf("%.0f µs", s.cpuPerMsg)
		}
		latency := fmtLatency(s.p50) + " / " + fmtLatency(s.p99)
		if s.backlog { // from the server start: the drain time, not a latency
			latency = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d / %d |\n", r.run.name, offered, delivered,
			latency, cpu, rss, s.lost, s.dups)
	}
	if rs := g.ratios(); len(rs) > 0 {
		b.WriteString("\n" + strings.Join(rs, "  \n") + "\n")
	}
	return b.String()
}
