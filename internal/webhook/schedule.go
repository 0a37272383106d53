package webhook

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Step is a run of retries Count times, Interval apart.
type Step struct {
	Count    int
	Interval time.Duration
}

// Schedule is a retry schedule: after the first failed attempt of a
// subscription, retry n is due at the sum of the first n intervals.
type Schedule []Step

// ZettleSchedule is Zettle's documented retry policy (pusher-api.md §5): 10
// retries 60 s apart, 9 retries 600 s apart, then hourly for 70 hours — 89
// retries, the last 71 h 40 min after the first failure. It is the default
// and never changes.
var ZettleSchedule = Schedule{{10, time.Minute}, {9, 10 * time.Minute}, {70, time.Hour}}

// Retries returns the number of retries in the schedule.
func (s Schedule) Retries() int {
	n := 0
	for _, st := range s {
		n += st.Count
	}
	return n
}

// Next returns when retry number failures is due for an episode whose first
// failure was at since (failures counts failed attempts so far, the first
// included). ok is false when the schedule is exhausted: failures > Retries().
func (s Schedule) Next(since time.Time, failures int) (next time.Time, ok bool) {
	if failures < 1 {
		return since, true
	}
	var offset time.Duration
	left := failures
	for _, st := range s {
		n := min(left, st.Count)
		offset += time.Duration(n) * st.Interval
		left -= n
		if left == 0 {
			return since.Add(offset), true
		}
	}
	return time.Time{}, false
}

// Span returns the time from the first failure to the last retry.
func (s Schedule) Span() time.Duration {
	next, _ := s.Next(time.Time{}, s.Retries())
	return next.Sub(time.Time{})
}

// Last returns when the last retry of an episode whose first failure was at
// since is due: if that one fails too, the retries are exhausted.
func (s Schedule) Last(since time.Time) time.Time {
	return since.Add(s.Span())
}

// String formats s as ParseSchedule reads it, e.g. "10x1m,9x10m,70x1h".
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = fmt.Sprintf("%dx%s", st.Count, shortDuration(st.Interval))
	}
	return strings.Join(parts, ",")
}

// CompactDuration writes d in Go's duration syntax without zero units
// (24h, 1h30m, 90s, 0s), as the rotation overlap is shown. Unlike
// shortDuration it keeps mixed units (90m is 1h30m).
func CompactDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// shortDuration writes d in whole hours or minutes when it is one, as a
// Schedule step.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// ParseSchedule reads a schedule written as comma-separated COUNTxINTERVAL
// steps, e.g. "10x60s,9x10m,70x1h" (Zettle's) or "3x1s" for tests.
func ParseSchedule(text string) (Schedule, error) {
	var s Schedule
	for _, part := range strings.Split(text, ",") {
		count, interval, ok := strings.Cut(strings.TrimSpace(part), "x")
		if !ok {
			return nil, fmt.Errorf("retry schedule step %q: want COUNTxINTERVAL, e.g. 10x60s", part)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("retry schedule step %q: count must be a positive integer", part)
		}
		d, err := time.ParseDuration(interval)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("retry schedule step %q: interval must be a positive duration like 60s", part)
		}
		s = append(s, Step{n, d})
	}
	return s, nil
}
