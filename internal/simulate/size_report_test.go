package simulate

import (
	"strings"
	"testing"
)

// TestSizeReport prints the payload size distribution of 5000 streamed
// events of seed 7 (three organizations, as Run uses by default), plus 100
// of each disconnect event, which the stream never contains. Run it with
// go test -run TestSizeReport -v.
func TestSizeReport(t *testing.T) {
	events := stream(7, defaultOrgs, 5000)
	shop := NewShop(7, Orgs(7, defaultOrgs), DefaultStart(7))
	for _, name := range []string{applicationConnectionRemoved, personalAssertionDeleted} {
		for range 100 {
			e, err := shop.NextOf(name)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
	}
	tl := newTally()
	tl.add(events)
	var report strings.Builder
	writeEventTable(&report, tl.byEvent, tl.sizeStats())
	t.Logf("payload sizes, seed 7, 5000 streamed events + 200 disconnects:\n%s", report.String())
	for name, st := range tl.sizeStats() {
		if st.Min <= 0 || st.Min > st.Median || st.Median > st.Max {
			t.Errorf("%s: sizes %+v", name, st)
		}
	}
}
