package simulate

import "time"

const (
	// zettleLayout is the timestamp style inside Zettle payloads:
	// "2021-04-19T13:17:56.572+0000".
	zettleLayout = "2006-01-02T15:04:05.000-0700"
	// envelopeLayout is the style of Event.Timestamp: "2021-04-19T13:17:56.585Z".
	envelopeLayout = "2006-01-02T15:04:05.000Z"
)

// zettleTime formats t like the timestamps inside Zettle payloads.
func zettleTime(t time.Time) string { return t.UTC().Format(zettleLayout) }

// envelopeTime formats t like Event.Timestamp: RFC 3339, UTC, milliseconds.
func envelopeTime(t time.Time) string { return t.UTC().Format(envelopeLayout) }

// DefaultStart is the instant the simulated clock starts at when no start is
// given: a fixed time in 2024 that depends only on seed, so that a seed
// alone reproduces a stream byte for byte.
func DefaultStart(seed uint64) time.Time {
	base := time.Date(2024, time.March, 4, 7, 30, 0, 0, time.UTC)
	return base.Add(time.Duration(seed%(300*24*60)) * time.Minute)
}
