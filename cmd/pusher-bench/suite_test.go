package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
)

func TestReplaceMarked(t *testing.T) {
	doc := "# Title\n\nprose before\n\n" + beginMarker + "\nold table\nold line\n" + endMarker + "\n\nprose after\n"
	got, err := replaceMarked(doc, "new table\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\nprose before\n\n" + beginMarker + "\nnew table\n" + endMarker + "\n\nprose after\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	again, err := replaceMarked(got, "new table")
	if err != nil || again != got {
		t.Errorf("replacing with the same content changed the doc: %q, %v", again, err)
	}
	for name, bad := range map[string]string{
		"no markers":     "just prose\n",
		"no end":         beginMarker + "\nx\n",
		"reversed":       endMarker + "\nx\n" + beginMarker + "\n",
		"two generated":  beginMarker + endMarker + beginMarker + endMarker,
		"duplicate open": beginMarker + beginMarker + endMarker,
	} {
		if _, err := replaceMarked(bad, "y"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReplaceMarkedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte("a\n"+beginMarker+"\n"+endMarker+"\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := replaceMarkedFile(path, "| x |"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "a\n" + beginMarker + "\n| x |\n" + endMarker + "\nb\n"; string(data) != want {
		t.Errorf("file %q", data)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", st.Mode().Perm())
	}
	if err := replaceMarkedFile(filepath.Join(t.TempDir(), "missing.md"), "x"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 999.6: "1,000", 1000: "1,000", 12345.6: "12,346",
		1234567: "1,234,567", -4321: "-4,321", math.NaN(): "—"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFmtLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", 400 * time.Microsecond: "0.4 ms", 7 * time.Millisecond: "7.0 ms",
		48400 * time.Microsecond: "48 ms", 5101500 * time.Microsecond: "5.10 s"} {
		if got := fmtLatency(d); got != want {
			t.Errorf("fmtLatency(%v) = %q, want %q", d, got, want)
		}
	}
}

// sweepResult is a fan-out 1 sweep result for the tests.
func sweepResult(rate float64, repeat int, offered, during, all float64, p99 time.Duration) suiteResult {
	return suiteResult{run: suiteRun{kind: kindSweep, rate: rate, repeat: repeat, name: rateName(rate)},
		s: runStats{offered: offered, during: during, all: all, p50: p99 / 4, p95: p99 / 2, p99: p99,
			cpuPerMsg: math.NaN(), pusherCores: math.NaN(), benchCores: math.NaN(), otherCores: math.NaN()}}
}

func TestChartPoints(t *testing.T) {
	results := []suiteResult{
		sweepResult(1000, 1, 1000, 999, 1000, 9*time.Millisecond),
		sweepResult(1000, 2, 1001, 990, 1001, 30*time.Millisecond),
		sweepResult(1000, 3, 999, 995, 999, 10*time.Millisecond),
		sweepResult(0, 0, 5200, 300, 2000, 6*time.Second), // unpaced, offered between the paced rates
		sweepResult(6000, 0, 5900, 250, 1900, 7*time.Second),
		sweepResult(2000, 0, 2000, 1990, 2000, 12*time.Millisecond),
		{run: suiteRun{kind: kindFanout3}, s: runStats{offered: 9000}}, // not in the sweep
		{run: suiteRun{kind: kindBacklog}, s: runStats{all: 7000, backlog: true}},
	}
	pts := chartPoints(results)
	var labels []string
	for _, p := range pts {
		labels = append(labels, p.label)
	}
	if got := strings.Join(labels, ","); got != "1,000/s,2,000/s,unpaced,6,000/s" {
		t.Fatalf("points by offered load: %s", got)
	}
	first := pts[0]
	if first.runs != 3 || first.offered != 1000 || first.during != 995 || first.p99 != 10*time.Millisecond {
		t.Errorf("1,000/s point is not the median of the repeats: %+v", first)
	}
	if pts[2].rate != 0 || pts[2].overall != 2000 || pts[2].runs != 1 {
		t.Errorf("unpaced point %+v", pts[2])
	}
	if chartPoints(results[6:]) != nil {
		t.Error("points without a sweep")
	}
}

func TestPointLabels(t *testing.T) {
	pts := []chartPoint{{offered: 1000, label: "1,000/s"}, {offered: 2000, label: "2,000/s"},
		{offered: 4257, label: "6,000/s"}, {offered: 4314, label: "unpaced"}, {offered: 4400, label: "x"}}
	got := strings.Join(pointLabels(pts, 0.08), "|")
	if want := "1,000/s|2,000/s|6,000/s, unpaced, x||"; got != want {
		t.Errorf("labels %q, want %q", got, want)
	}
	if got := pointLabels(nil, 0.08); len(got) != 0 {
		t.Errorf("labels of none: %q", got)
	}
}

func TestLongestGap(t *testing.T) {
	ms := int64(time.Millisecond)
	if g := longestGap([]int64{5 * ms, 1 * ms, 2 * ms, 12 * ms, 13 * ms}); g != 7*time.Millisecond {
		t.Errorf("longestGap = %v, want 7ms", g)
	}
	if g := longestGap([]int64{ms}); g != 0 {
		t.Errorf("longestGap of one = %v", g)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median none = %v", m)
	}
}

func TestRenderChart(t *testing.T) {
	if _, err := renderChart(nil); err == nil {
		t.Error("chart of no points rendered")
	}
	pts := chartPoints([]suiteResult{sweepResult(1000, 0, 1000, 1000, 1000, 0), sweepResult(0, 0, 5000, 300, 2000, 6*time.Second)})
	data, err := renderChart(pts)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 14*96 || b.Dy() != 5*96 {
		t.Errorf("image %v", b)
	}
}

func TestPlan(t *testing.T) {
	spec := suites["docs"]
	base := config{workers: 64, perSub: 4, instances: 1, batch: 50, concurrency: 8, compareBare: true, markdown: "m.md", bin: "/x/pusher"}
	runs := plan(spec, base, "/tmp/p")
	count := map[runKind]int{}
	for _, r := range runs {
		count[r.kind]++
		c := r.c
		if c.bin != "/x/pusher" || c.markdown != "m.md" || c.compareBare || c.suite != "" {
			t.Errorf("%s: base not kept or suite flags not cleared: %+v", r.name, c)
		}
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
		switch r.kind {
		case kindSweep, kindFanout3, kindProfileIngest:
			if c.batch != 1 || c.concurrency != 64 || c.backlog != 0 || c.bare {
				t.Errorf("%s: ingest run %+v", r.name, c)
			}
		case kindBacklog, kindProfileBacklog:
			if c.backlog == 0 || c.events != c.backlog || c.rate != 0 {
				t.Errorf("%s: backlog run %+v", r.name, c)
			}
		case kindBare:
			if !c.bare || c.events != spec.events {
				t.Errorf("%s: bare run %+v", r.name, c)
			}
		}
		if r.kind == kindSweep {
			want := spec.events
			if r.repeat > 0 {
				want = spec.repeatEvents
			}
			if c.events != want {
				t.Errorf("%s: %d events, want %d", r.name, c.events, want)
			}
		}
		if (c.profile != "") != (r.kind >= kindProfileBacklog) {
			t.Errorf("%s: profile %q", r.name, c.profile)
		}
	}
	want := map[runKind]int{kindSweep: spec.repeats + len(spec.rates) - 1, kindFanout3: 1, kindBare: 1,
		kindBacklog: 1, kindProfileBacklog: 1, kindProfileIngest: 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d runs of kind %d, want %d", count[k], k, n)
		}
	}
	if runs[0].repeat != 1 || runs[spec.repeats-1].repeat != spec.repeats || runs[spec.repeats].repeat != 0 {
		t.Errorf("repeats numbered %d..%d, next %d", runs[0].repeat, runs[spec.repeats-1].repeat, runs[spec.repeats].repeat)
	}
	if bl := runs[len(runs)-3]; bl.kind != kindBacklog || bl.c.backlog != 100000 || bl.flags != "-backlog 100000 -fanout 1" {
		t.Errorf("backlog run %+v", bl)
	}
}

// suiteFixture is the results of a small suite whose targets are met
// except the drain rate and the CPU of one run.
func suiteFixture() generated {
	rep := func(k int, p99 time.Duration) suiteResult {
		r := sweepResult(1000, k, 1000, 1000, 1000, p99)
		r.run.name = "fan-out 1, 1,000/s offered #" + string(rune('0'+k))
		r.s.cpuPerMsg, r.s.rssMiB = 250, []float64{30}
		return r
	}
	hi := sweepResult(6000, 0, 5950, 4100, 4500, 80*time.Millisecond)
	hi.s.cpuPerMsg = 320
	hi.attempts = 3
	bare := suiteResult{run: suiteRun{kind: kindBare, name: "bare"}, s: runStats{all: 20000, offered: 20000, cpuPerMsg: math.NaN(),
		pusherCores: math.NaN(), benchCores: math.NaN()}}
	un := sweepResult(0, 0, 5000, 300, 2000, 6*time.Second)
	un.s.cpuPerMsg = 280
	bl := suiteResult{run: suiteRun{kind: kindBacklog, name: "backlog drain, 100,000 events"},
		s: runStats{messages: 100000, arrived: 100000, all: 5000, spanRate: 5100, after: 5000, cpuPerMsg: 200,
			pusherCores: 1.0, benchCores: 0.5, rssMiB: []float64{62.5}, backlog: true}}
	prof := suiteResult{run: suiteRun{kind: kindProfileBacklog, name: "profile: backlog drain"},
		s: runStats{backlog: true, all: 4900, cpuPerMsg: 210, lost: 0},
		profile: &profileTop{header: []string{"Duration: 4s, Total samples = 3s (75.00%)"}, total: 3 * time.Second,
			functions: []profileEntry{{name: "runtime.memmove", flat: time.Second}}, packages: []profileEntry{{name: "runtime", flat: 2 * time.Second}},
			own: []profileEntry{{name: ownModule + "internal/delivery.(*Engine).Run", cum: 1500 * time.Millisecond}}}}
	return generated{store: "SQLite", docsPath: "docs/benchmarks.md", chartPath: "docs/benchmarks.png",
		machine: machine{date: "2026-12-02", commit: "abc1234", dirty: true, cpus: 2},
		results: []suiteResult{rep(1, 9*time.Millisecond), rep(2, 12*time.Millisecond), rep(3, 11*time.Millisecond), hi, un, bare, bl, prof}}
}

func TestBars(t *testing.T) {
	g := suiteFixture()
	got := map[string]bar{}
	for _, b := range g.bars() {
		got[strings.Fields(b.what)[0]] = b
	}
	check := func(key, measured, met string) {
		t.Helper()
		b, ok := got[key]
		if !ok {
			t.Errorf("no bar %q in %v", key, got)
			return
		}
		if !strings.Contains(b.measured, measured) || b.met != met {
			t.Errorf("bar %q: measured %q met %q; want measured containing %q, met %q", b.what, b.measured, b.met, measured, met)
		}
	}
	check("Delivered", "4,100 msg/s (ingest accepted 5,950 msg/s)", "yes")
	check("p99", "9.0 ms / 12 ms / 11 ms (longest pause between arrivals 0 / 0 / 0)", "yes")
	check("CPU", "200–320 µs (most: 6,000/s offered)", "**no** (1 of 6 runs above)")
	check("Drain", "5,000 msg/s from the server start (5,100 msg/s first → last arrival)", "**no**")
	check("Peak", "62.5 MiB", "yes")
	check("Lost", "0 / 0", "yes")

	g.results[1].s.p99 = 60 * time.Millisecond
	g.results[3].s.offered = 4000
	g.results[6].s.dups = 2
	for _, b := range g.bars() {
		switch strings.Fields(b.what)[0] {
		case "p99", "Lost":
			if b.met != "**no**" {
				t.Errorf("bar %q met %q after a miss", b.what, b.met)
			}
		case "Delivered":
			if !strings.Contains(b.met, "did not reach") {
				t.Errorf("ingest below the offered rate not flagged: %q", b.met)
			}
		}
	}
}

func TestGeneratedDocs(t *testing.T) {
	g := suiteFixture()
	docs := g.docs()
	for _, want := range []string{
		"`" + suiteCommand + "` on 2026-12-02 at commit `abc1234` with uncommitted changes",
		resultsHeader,
		"| backlog drain, 100,000 events | — | — | 5,000 | 5,000 |",
		"R = pusher ÷ bare, fan-out 1 unpaced, delivered overall: 2,000 ÷ 20,000 = **0.10**",
		"R for the backlog drain (pusher delivering only, no ingest): 5,000 ÷ 20,000 = **0.25**",
		"![Delivered msg/s and latency percentiles against offered msg/s](benchmarks.png)",
		"| `runtime` | 2s | 66.7% |",
		"pprof: Duration: 4s, Total samples = 3s (75.00%)",
		"| `internal/delivery.(*Engine).Run` | 1.5s | 50.0% |",
		"(the tables show the last attempt): 6,000/s offered (3 attempts).",
	} {
		if !strings.Contains(docs, want) {
			t.Errorf("docs lack %q:\n%s", want, docs)
		}
	}
	if strings.Contains(docs, "| profile: backlog drain |") {
		t.Error("a profiled run is in the results table")
	}
	if strings.Contains(docs, beginMarker) || strings.Contains(docs, endMarker) {
		t.Error("generated text holds a marker")
	}
	// Every row of the results table has the header's columns.
	cols := strings.Count(strings.SplitN(resultsHeader, "\n", 2)[0], "|")
	for _, line := range strings.Split(docs, "\n") {
		if strings.HasPrefix(line, "| fan-out") || strings.HasPrefix(line, "| backlog") || strings.HasPrefix(line, "| bare") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != cols {
				t.Errorf("row has %d |, header %d: %s", n, cols, line)
			}
		}
	}

	readme := g.readme()
	for _, want := range []string{"docs/benchmarks.md", "| backlog drain, 100,000 events | — | drained at 5,000 msg/s | — | 200 µs | 62.5 MiB | 0 / 0 |",
		"| 5,950 msg/s | 4,100 / 4,500 msg/s | 20 ms / 80 ms | 320 µs |"} {
		if !strings.Contains(readme, want) {
			t.Errorf("readme lacks %q:\n%s", want, readme)
		}
	}
}

func TestResultsRow(t *testing.T) {
	s := runStats{offered: 1000.4, during: 990, after: 1500, all: 1010, p50: 3400 * time.Microsecond,
		p95: 12 * time.Millisecond, p99: 20 * time.Millisecond, cpuPerMsg: 512.6, pusherCores: 0.51, benchCores: 0.3, otherCores: 0.04,
		rssMiB: []float64{41.25}, lost: 2, dups: 3}
	want := "| a\\|b | 1,000 | 990 | 1,500 | 1,010 | 3.4 ms | 12 ms | 20 ms | 513 | 0.51 / 0.30 / 0.04 | 41.2 | 2 | 3 |\n"
	if got := resultsRow("a|b", s); got != want {
		t.Errorf("row\n%s want\n%s", got, want)
	}
	s.cpuPerMsg, s.pusherCores, s.rssMiB, s.backlog = math.NaN(), math.NaN(), nil, true
	if got := resultsRow("x", s); !strings.HasPrefix(got, "| x | — | — | 1,500 |") || !strings.Contains(got, "| — | — | — | 2 | 3 |") {
		t.Errorf("backlog row without CPU: %s", got)
	}
}

func TestParsePprofTop(t *testing.T) {
	out := []byte(`File: pusher
Build ID: abc
Type: cpu
Time: 2026-12-02 12:00:00 UTC
Duration: 4s, Total samples = 3.10s (77.50%)
Showing nodes accounting for 3.10s, 100% of 3.10s total
      flat  flat%   sum%        cum   cum%
     1.20s 38.71% 38.71%      1.20s 38.71%  internal/runtime/syscall.Syscall6
     0.50s 16.13% 54.84%      0.90s 29.03%  modernc.org/libc.Xmemcpy
     400ms 12.90% 67.74%      500ms 16.13%  modernc.org/sqlite/lib.sqlite3VdbeExec
     300ms  9.68% 77.42%      2.50s 80.65%  github.com/pusher-hq/pusher/internal/store/sqlite.(*DB).run.func1
     300ms  9.68% 87.10%      300ms  9.68%  runtime.mallocgc
     200ms  6.45% 93.55%      200ms  6.45%  slices.pdqsortCmpFunc[go.shape.struct { Name string; F net/http.Header }]
     200ms  6.45%   100%      200ms  6.45%  runtime.memmove
         0     0%   100%      1.20s 38.71%  syscall.Syscall
         0     0%   100%      800ms 25.81%  github.com/pusher-hq/pusher/internal/delivery.(*Engine).send (inline)
`)
	p, err := parsePprofTop(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.header) != 1 || p.header[0] != "Duration: 4s, Total samples = 3.10s (77.50%)" {
		t.Errorf("header %q", p.header)
	}
	if p.total != 3100*time.Millisecond {
		t.Errorf("total %v", p.total)
	}
	if len(p.functions) != 9 || p.functions[0].name != "internal/runtime/syscall.Syscall6" {
		t.Errorf("functions %v", p.functions)
	}
	if f := p.functions[3]; f.name != "github.com/pusher-hq/pusher/internal/store/sqlite.(*DB).run.func1" || f.flat != 300*time.Millisecond {
		t.Errorf("functions[3] %v", f)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	want := []profileEntry{{name: "internal/runtime/syscall", flat: ms(1200)},
		{name: "modernc.org/libc", flat: ms(500)}, {name: "runtime", flat: ms(500)}, // equal: by name
		{name: "modernc.org/sqlite/lib", flat: ms(400)}, {name: "github.com/pusher-hq/pusher/internal/store/sqlite", flat: ms(300)},
		{name: "slices", flat: ms(200)}, {name: "github.com/pusher-hq/pusher/internal/delivery"}, {name: "syscall"}}
	if !slices.Equal(p.packages, want) {
		t.Errorf("packages\n%v\nwant\n%v", p.packages, want)
	}
	wantOwn := []profileEntry{{name: "github.com/pusher-hq/pusher/internal/delivery.(*Engine).send", flat: ms(0), cum: ms(800)}}
	if !slices.Equal(p.own, wantOwn) {
		t.Errorf("own\n%v\nwant\n%v", p.own, wantOwn)
	}
	if _, err := parsePprofTop([]byte("no table here\n")); err == nil {
		t.Error("output without a table accepted")
	}
}

func TestPackageOf(t *testing.T) {
	for fn, want := range map[string]string{
		"net/http.(*conn).serve":        "net/http",
		"runtime.mallocgc":              "runtime",
		"modernc.org/libc.Xmemcpy":      "modernc.org/libc",
		"github.com/a/b/c.F.func1":      "github.com/a/b/c",
		"slices.SortFunc[a/b.T]":        "slices",
		"gopkg.in/yaml%2ev3.(*p).parse": "gopkg.in/yaml%2ev3",
		"[vdso]":                        "[vdso]",
	} {
		if got := packageOf(fn); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", fn, got, want)
		}
	}
}

func TestIsClosure(t *testing.T) {
	for fn, want := range map[string]bool{"a/b.F.func1": true, "a/b.(*T).M.func12.3": true, "a/b.F": false,
		"a/b.(*T).funcs": false, "a/b.F.funcX": false} {
		if got := isClosure(fn); got != want {
			t.Errorf("isClosure(%q) = %v", fn, got)
		}
	}
}

func TestParsePprofDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"0": 0, "1.20s": 1200 * time.Millisecond, "350ms": 350 * time.Millisecond,
		"10us": 10 * time.Microsecond, "1.5mins": 90 * time.Second} {
		if got, err := parsePprofDuration(s); err != nil || got != want {
			t.Errorf("parsePprofDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := parsePprofDuration("12x"); err == nil {
		t.Error("12x accepted")
	}
}

func TestMachineParsers(t *testing.T) {
	model, vm := parseCPUInfo([]byte("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme hypervisor lahf_lm\n\nprocessor\t: 1\nmodel name\t: other\n"))
	if model != "AMD EPYC 7B13" || !vm {
		t.Errorf("cpuinfo: %q %v", model, vm)
	}
	if _, vm := parseCPUInfo([]byte("flags\t: fpu hypervisorx\n")); vm {
		t.Error("hypervisorx read as hypervisor")
	}
	mem := parseMemInfo([]byte("MemTotal:       24536064 kB\nMemFree:  100 kB\nMemAvailable:   22020096 kB\nSwapTotal:             0 kB\n"))
	if mem != "23.4 GiB total, 21.0 GiB available, no swap" {
		t.Errorf("meminfo: %q", mem)
	}
	mounts := []byte("/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n/dev/vdb /tmpx xfs rw 0 0\n/dev/vdc /mnt/my\\040disk btrfs rw 0 0\n")
	for dir, want := range map[string][2]string{"/tmp/x": {"/tmp", "tmpfs"}, "/tmpx/y": {"/tmpx", "xfs"}, "/var/tmp": {"/", "ext4"},
		"/tmp": {"/tmp", "tmpfs"}, "/mnt/my disk/a": {"/mnt/my disk", "btrfs"}} {
		mnt, fs, ok := mountOf(mounts, dir)
		if !ok || mnt != want[0] || fs != want[1] {
			t.Errorf("mountOf(%q) = %q %q %v, want %v", dir, mnt, fs, ok, want)
		}
	}
}

func TestValidateBacklog(t *testing.T) {
	ok := config{events: 10, batch: 1, concurrency: 1, fanout: 1, instances: 1, perSub: 4, backlog: 10}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*config){
		"bare":     func(c *config) { c.bare = true },
		"compare":  func(c *config) { c.compareBare = true },
		"rate":     func(c *config) { c.rate = 100 },
		"negative": func(c *config) { c.backlog = -1 },
		"suite":    func(c *config) { c.suite = "nope" },
	} {
		c := ok
		mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func tickLabels(ts []plot.Tick) (labels []string, unlabelled int) {
	for _, t := range ts {
		if t.Label == "" {
			unlabelled++
			continue
		}
		labels = append(labels, t.Label)
	}
	return labels, unlabelled
}

func TestRateTicks(t *testing.T) {
	labels, minor := tickLabels(rateTicks{}.Ticks(0, 6300))
	if got := strings.Join(labels, " "); got != "0 1,000 2,000 3,000 4,000 5,000 6,000" || minor != 6 {
		t.Errorf("ticks 0–6300: %s, %d minor", got, minor)
	}
	labels, _ = tickLabels(rateTicks{}.Ticks(0, 25000))
	if got := strings.Join(labels, " "); got != "0 5,000 10,000 15,000 20,000 25,000" {
		t.Errorf("ticks 0–25000: %s", got)
	}
	for raw, want := range map[float64]float64{0.3: 0.5, 1: 1, 120: 200, 700: 1000, 2000: 2000, 3100: 5000} {
		if got := niceStep(raw); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestLatencyTicks(t *testing.T) {
	labels, minor := tickLabels(latencyTicks{}.Ticks(0.1, 12000))
	if got := strings.Join(labels, " "); got != "0.1 ms 1 ms 10 ms 100 ms 1 s 10 s" || minor != 10 {
		t.Errorf("ticks 0.1 ms–12 s: %s, %d unlabelled", got, minor)
	}
	labels, minor = tickLabels(latencyTicks{}.Ticks(1.5, 8))
	if got := strings.Join(labels, " "); got != "2 ms 5 ms" || minor != 0 {
		t.Errorf("ticks within a decade: %s, %d unlabelled", got, minor)
	}
}
