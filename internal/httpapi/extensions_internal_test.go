package httpapi

import (
	"testing"
)

func TestCursor(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40, 1<<63 - 1} {
		if got, ok := decodeCursor(encodeCursor(id)); !ok || got != id {
			t.Errorf("decodeCursor(encodeCursor(%d)) = %d, %v", id, got, ok)
		}
	}
	for _, bad := range []string{"", "!!", "MA", "LTE", "MDQy", "eA", "NDIg"} { // "0", "-1", "042", "x", "42 "
		if id, ok := decodeCursor(bad); ok {
			t.Errorf("decodeCursor(%q) = %d, want refused", bad, id)
		}
	}
}
