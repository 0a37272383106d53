package webhook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// nested returns n arrays nested in an object: {"a":[[…]]} has depth n+1.
func nested(n int) string {
	return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

func TestCompactJSONDepth(t *testing.T) {
	ok := nested(webhook.MaxDepth - 1)
	if got, err := webhook.CompactJSON([]byte(ok)); err != nil || string(got) != ok {
		t.Errorf("depth %d: %v", webhook.MaxDepth, err)
	}
	for _, n := range []int{webhook.MaxDepth, 20_000, 3_000_000} {
		_, err := webhook.CompactJSON([]byte(nested(n)))
		if !errors.Is(err, webhook.ErrTooDeep) {
			t.Errorf("depth %d: err = %v, want ErrTooDeep", n+1, err)
		}
	}
	// Unclosed deep input is refused for its depth, before its end is read.
	if _, err := webhook.CompactJSON([]byte(strings.Repeat("[", 1_000_000))); !errors.Is(err, webhook.ErrTooDeep) {
		t.Errorf("unclosed: err = %v, want ErrTooDeep", err)
	}
}

func TestCompactJSONSeparators(t *testing.T) {
	in := `{ "a" : [ 1 , { "b" : [ ] , "c" : { } } , "x" ] , "d" : null , "e" : [ true , false ] }`
	want := `{"a":[1,{"b":[],"c":{}},"x"],"d":null,"e":[true,false]}`
	if got, err := webhook.CompactJSON([]byte(in)); err != nil || string(got) != want {
		t.Errorf("CompactJSON = %s, %v; want %s", got, err, want)
	}
}

func TestDepth(t *testing.T) {
	for in, want := range map[string]int{
		``:                      0,
		`1`:                     0,
		`"[[["`:                 0,
		`{}`:                    1,
		`[1,2]`:                 1,
		`{"a":[]}`:              2,
		`{"a\"[":[{"b":{}}]}`:   4,
		`{"a\\":[]}`:            2,
		`]]]][`:                 1,
		`"unclosed [[[`:         0,
		nested(10):              11,
		strings.Repeat("[", 99): 99,
	} {
		if got := webhook.Depth([]byte(in)); got != want {
			t.Errorf("Depth(%.40q) = %d, want %d", in, got, want)
		}
	}
}
