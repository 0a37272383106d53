package webhook

import (
	"testing"
	"time"
)

func TestCompactDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "0s",
		24 * time.Hour:            "24h",
		168 * time.Hour:           "168h",
		90 * time.Minute:          "1h30m",
		time.Hour + 5*time.Second: "1h0m5s",
		90 * time.Second:          "1m30s",
		10 * time.Minute:          "10m",
		45 * time.Second:          "45s",
		1500 * time.Millisecond:   "1.5s",
		time.Hour + 30*time.Minute + 10*time.Second: "1h30m10s",
	} {
		if got := CompactDuration(d); got != want {
			t.Errorf("CompactDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(want); err != nil || back != d {
			t.Errorf("%q does not parse back to %v", want, d)
		}
	}
}
