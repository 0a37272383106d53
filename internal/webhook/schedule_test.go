package webhook

import (
	"testing"
	"time"
)

func TestZettleSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		failures int
		offset   time.Duration
		ok       bool
	}{
		{1, time.Minute, true},
		{2, 2 * time.Minute, true},
		{10, 10 * time.Minute, true},
		{11, 20 * time.Minute, true},
		{19, 100 * time.Minute, true},
		{20, 100*time.Minute + time.Hour, true},
		{89, 100*time.Minute + 70*time.Hour, true},
		{90, 0, false},
	}
	for _, tt := range tests {
		next, ok := ZettleSchedule.Next(t0, tt.failures)
		if ok != tt.ok || ok && next.Sub(t0) != tt.offset {
			t.Errorf("Next(t0, %d) = +%v, %v; want +%v, %v", tt.failures, next.Sub(t0), ok, tt.offset, tt.ok)
		}
	}
	if n := ZettleSchedule.Retries(); n != 89 {
		t.Errorf("Retries() = %d, want 89", n)
	}
	if s := ZettleSchedule.Span(); s != 71*time.Hour+40*time.Minute {
		t.Errorf("Span() = %v, want 71h40m", s)
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("10x60s, 9x10m,70x1h")
	if err != nil || s.String() != ZettleSchedule.String() {
		t.Fatalf("ParseSchedule = %v, %v; want %v", s, err, ZettleSchedule)
	}
	for _, bad := range []string{"", "10", "0x1s", "ax1s", "3x", "3x-1s", "3xfoo"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
}
