package simulate

import "testing"

// The payload sizes a Summary reports are the count, smallest, median (the
// upper one of an even count) and largest of the sizes seen per event name.
// The size distribution itself is a report, not a test:
// go run ./internal/simulate/cmd/sizereport.
func TestSizeStats(t *testing.T) {
	for _, tt := range []struct {
		sizes []int
		want  SizeStat
	}{
		{nil, SizeStat{}},
		{[]int{7}, SizeStat{Count: 1, Min: 7, Median: 7, Max: 7}},
		{[]int{9, 1, 5}, SizeStat{Count: 3, Min: 1, Median: 5, Max: 9}},
		{[]int{40, 10, 30, 20}, SizeStat{Count: 4, Min: 10, Median: 30, Max: 40}},
	} {
		if got := sizeStatOf(tt.sizes); got != tt.want {
			t.Errorf("sizeStatOf(%v) = %+v, want %+v", tt.sizes, got, tt.want)
		}
	}

	tl := newTally()
	tl.add([]Event{
		{EventName: purchaseCreated, OrganizationUUID: "a", Payload: []byte(`{"n":1}`)},
		{EventName: purchaseCreated, OrganizationUUID: "b", Payload: []byte(`{"n":100}`)},
		{EventName: productCreated, OrganizationUUID: "a", Payload: []byte(`{}`)},
	})
	got := tl.sizeStats()
	want := map[string]SizeStat{purchaseCreated: {2, 7, 9, 9}, productCreated: {1, 2, 2, 2}}
	if len(got) != len(want) || got[purchaseCreated] != want[purchaseCreated] || got[productCreated] != want[productCreated] {
		t.Errorf("sizeStats = %+v, want %+v", got, want)
	}
	if tl.byOrg["a"] != 2 || tl.byOrg["b"] != 1 || tl.byEvent[purchaseCreated] != 2 {
		t.Errorf("counts by org %v, by event %v", tl.byOrg, tl.byEvent)
	}
}
