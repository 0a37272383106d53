package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzCompactPaths checks that CompactJSON's fast path for valid JSON gives
// exactly the bytes of the token decoder's path.
func FuzzCompactPaths(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, " { \"a\" : [ 1 , 2.50 , -0 , 1e999999 ] ,\n\t\"b\" : null } ",
		`{"name":"Fish & <Chips>","s":"\u2028\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\u0001"}`,
		`[true,false,null,"x",{"":{}}]`, `"just a string"`, `12`, "{\"bad utf8\":\"\xff\xfe\"}",
		"{\"ok utf8\":\"\u00e9\U0001F600\x7f\"}", `{"a":1,"a":2}`, `["\ud800"]`, `{"a":"\u0041\u00e9"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) || Depth(in) > MaxDepth {
			return
		}
		want, err := compactTokens(in)
		if err != nil {
			t.Fatalf("compactTokens(%q): %v", in, err)
		}
		if got := compactValid(in); !bytes.Equal(got, want) {
			t.Fatalf("compactValid(%q) = %q, compactTokens %q", in, got, want)
		}
	})
}
