package store

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one, p50", ms(7), 50, 7 * time.Millisecond},
		{"one, p99", ms(7), 99, 7 * time.Millisecond},
		{"two, p50 is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"two, p51 is the upper", ms(1, 2), 51, 2 * time.Millisecond},
		{"five, p50", ms(5, 10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"five, p95", ms(5, 10, 20, 30, 40), 95, 40 * time.Millisecond},
		{"seven, p50", ms(5, 10, 20, 30, 40, 100, 100), 50, 30 * time.Millisecond},
		{"twenty, p95 exactly at a rank", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Millisecond},
		{"hundred, p1", ms(hundred...), 1, 1 * time.Millisecond},
		{"hundred, p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"hundred, p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred, p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"sub-millisecond", []time.Duration{300 * time.Microsecond, 900 * time.Microsecond}, 99, 900 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: Percentile(%v, %d) = %v, want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}
