package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[int]time.Duration{50: 50 * time.Millisecond, 95: 95 * time.Millisecond,
		99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := pct(ds, p); got != want {
			t.Errorf("pct(1..100 ms, %d) = %v, want %v", p, got, want)
		}
	}
	if got := pct([]time.Duration{7 * time.Millisecond}, 95); got != 7*time.Millisecond {
		t.Errorf("pct of one = %v", got)
	}
	if got := pct(nil, 50); got != 0 {
		t.Errorf("pct(nil) = %v", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("pct sorted its argument")
	}
}

func TestMarkdownRow(t *testing.T) {
	s := runStats{config: "pusher 1× SQLite; a|b", offered: 1000.4, during: 990, after: 1500, all: 1010,
		p50: 3400 * time.Microsecond, p95: 12 * time.Millisecond, p99: 20 * time.Millisecond,
		cpuPerMsg: 512.6, rssMiB: []float64{41.25, math.NaN()}, lost: 2, dups: 3}
	want := `| pusher 1× SQLite; a\|b | 1000 | 990 | 1500 | 1010 | 3.4ms | 12ms | 20ms | 513 | 41.2 / ? | 2 | 3 |` + "\n"
	if got := markdownRow(s); got != want {
		t.Errorf("row\n%s want\n%s", got, want)
	}
	s.cpuPerMsg, s.rssMiB = math.NaN(), nil
	if got := markdownRow(s); !strings.Contains(got, "| 20ms | — | — | 2 | 3 |") {
		t.Errorf("bare row %s", got)
	}
	s.backlog = true // no ingest: offered and during are not rates
	if got := markdownRow(s); !strings.HasPrefix(got, `| pusher 1× SQLite; a\|b | — | — | 1500 | 1010 |`) {
		t.Errorf("backlog row %s", got)
	}
	if cols, hcols := strings.Count(want, " | "), strings.Count(strings.SplitN(markdownHeader, "\n", 2)[0], " | "); cols != hcols {
		t.Errorf("row has %d separators, header %d", cols, hcols)
	}
}

func TestAppendMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	s := runStats{config: "x", cpuPerMsg: math.NaN()}
	for range 2 {
		if err := appendMarkdown(path, s); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	if want := markdownHeader + markdownRow(s) + markdownRow(s); string(data) != want {
		t.Errorf("file\n%s", data)
	}
}

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM([]byte("Name:\tpusher\nVmPeak:\t 2000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 100 kB\n"))
	if err != nil || got != 50<<20 {
		t.Errorf("parseVmHWM = %d, %v", got, err)
	}
	if _, err := parseVmHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("no VmHWM accepted")
	}
	if b, err := peakRSS(os.Getpid()); err != nil || b <= 0 {
		t.Errorf("peakRSS(self) = %d, %v", b, err)
	}
}
