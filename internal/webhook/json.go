package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is how deeply pusher lets JSON it is given nest arrays and
// objects: an event payload (the payload object itself is level 1) and a
// subscription request body. Zettle's payloads nest at most 5 levels.
// Decoders that recurse or keep a stack per level do so at most this deep.
const MaxDepth = 64

// ErrTooDeep is the error of CompactJSON for JSON nesting deeper than MaxDepth.
var ErrTooDeep = fmt.Errorf("JSON nests deeper than %d levels", MaxDepth)

// CompactJSON re-encodes the JSON text in raw compactly, keeping key order and
// number literals exactly, writing non-ASCII as raw UTF-8 and escaping in
// strings only what JSON requires: '"', '\\' and control characters. This is
// how Zettle's envelopes look on the wire; Go's encoding/json would also
// escape <, >, &, U+2028 and U+2029.
//
// It works without recursion and stops reading at the first array or object
// nested deeper than MaxDepth, so its stack and memory stay bounded by the
// input's size whatever the input. It returns ErrTooDeep for such input, and
// a syntax error if raw is not exactly one valid JSON value.
func CompactJSON(raw []byte) ([]byte, error) {
	// Valid JSON within MaxDepth, all that ingest sees normally, takes the
	// fast path; anything else the token decoder, for its exact error.
	if json.Valid(raw) && Depth(raw) <= MaxDepth {
		return compactValid(raw), nil
	}
	return compactTokens(raw)
}

// compactValid is CompactJSON for raw that json.Valid accepts: it drops the
// whitespace between tokens and copies numbers, literals and strings as
// they are, except strings with escapes or invalid UTF-8, which it decodes
// and re-encodes like compactTokens does. Its output is byte for byte that
// of compactTokens.
func compactValid(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := StringEnd(raw, i) // valid JSON: the closing quote
			lit := raw[i : end+1]
			if plainString(lit[1 : len(lit)-1]) {
				out = append(out, lit...)
			} else {
				var s string
				json.Unmarshal(lit, &s) // cannot fail: raw is valid
				var b bytes.Buffer
				AppendJSONString(&b, s)
				out = append(out, b.Bytes()...)
			}
			i = end
		default:
			out = append(out, c)
		}
	}
	return out
}

// plainString reports whether the contents of a JSON string literal
// decode to themselves and AppendJSONString writes them back unchanged: no
// escapes (valid JSON has no control characters in strings) and valid
// UTF-8.
func plainString(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// compactTokens is CompactJSON through encoding/json's token decoder, for
// input that is invalid or nests too deep: it reports the decoder's error.
func compactTokens(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(raw))
	if err := copyValue(dec, &out, MaxDepth); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return out.Bytes(), nil
}

// container is an array or object being copied, with the number of keys
// and values copied into it so far.
type container struct {
	open  json.Delim
	items int
}

// copyValue copies one JSON value from dec to out with an explicit stack of
// open containers instead of recursion. It returns ErrTooDeep on opening a
// container at depth maxDepth+1, or dec's syntax error.
func copyValue(dec *json.Decoder, out *bytes.Buffer, maxDepth int) error {
	var stack []container
	for {
		tok, err := dec.Token()
		if err != nil {
			return jsonSyntaxError(err)
		}
		delim, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (delim == ']' || delim == '}'):
			out.WriteByte(byte(delim)) // dec checked that it matches
			stack = stack[:len(stack)-1]
		case isDelim:
			if len(stack) == maxDepth {
				return ErrTooDeep
			}
			writeSeparator(out, stack)
			out.WriteByte(byte(delim))
			stack = append(stack, container{open: delim})
		default:
			writeSeparator(out, stack)
			writeScalar(out, tok)
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// writeSeparator writes what precedes the next key or value in the
// innermost open container, if any, and counts it: ',' between array
// elements and before every key but the first, ':' before an object's value.
func writeSeparator(out *bytes.Buffer, stack []container) {
	if len(stack) == 0 {
		return
	}
	c := &stack[len(stack)-1]
	switch {
	case c.open == '{' && c.items%2 == 1:
		out.WriteByte(':')
	case c.items > 0:
		out.WriteByte(',')
	}
	c.items++
}

// writeScalar writes a string (a value or a key), json.Number, bool or nil
// token as JSON.
func writeScalar(out *bytes.Buffer, tok json.Token) {
	switch t := tok.(type) {
	case string:
		AppendJSONString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
}

func jsonSyntaxError(err error) error {
	if err == io.EOF {
		return errors.New("unexpected end of JSON input")
	}
	return err
}

// Depth returns how deeply the JSON text raw nests arrays and objects: 0 for
// a scalar, 1 for {} or [1,2], 2 for {"a":[]}. It skips strings and does not
// validate raw; it uses constant memory and time linear in len(raw), so it
// is safe to run on any input before a decoder whose cost grows with depth.
func Depth(raw []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			i = StringEnd(raw, i)
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// StringEnd returns the index of the quote that closes the JSON string
// opening at raw[start], skipping backslash escapes, or len(raw) if the
// string is not closed.
func StringEnd(raw []byte, start int) int {
	for i := start + 1; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(raw)
}

// AppendJSONString writes s as a JSON string literal, escaping only '"',
// '\\' and control characters; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			writeASCII(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out.WriteString("\ufffd")
		} else {
			out.WriteString(s[i : i+size])
		}
		i += size
	}
	out.WriteByte('"')
}

func writeASCII(out *bytes.Buffer, c byte) {
	switch c {
	case '"':
		out.WriteString(`\"`)
	case '\\':
		out.WriteString(`\\`)
	case '\n':
		out.WriteString(`\n`)
	case '\r':
		out.WriteString(`\r`)
	case '\t':
		out.WriteString(`\t`)
	case '\b':
		out.WriteString(`\b`)
	case '\f':
		out.WriteString(`\f`)
	default:
		if c < 0x20 {
			fmt.Fprintf(out, `\u%04x`, c)
		} else {
			out.WriteByte(c)
		}
	}
}
