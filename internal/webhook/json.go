package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// CompactJSON re-encodes the JSON text in raw compactly, keeping key order and
// number literals exactly, writing non-ASCII as raw UTF-8 and escaping in
// strings only what JSON requires: '"', '\\' and control characters. This is
// how Zettle's envelopes look on the wire; Go's encoding/json would also
// escape <, >, &, U+2028 and U+2029.
//
// It returns an error if raw is not exactly one valid JSON value.
func CompactJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(raw))
	if err := copyValue(dec, &out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return out.Bytes(), nil
}

// copyValue copies one JSON value from dec to out.
func copyValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntaxError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		return copyContainer(dec, out, t)
	case string:
		AppendJSONString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		fmt.Fprint(out, t)
	case nil:
		out.WriteString("null")
	}
	return nil
}

func copyContainer(dec *json.Decoder, out *bytes.Buffer, open json.Delim) error {
	out.WriteByte(byte(open))
	for i := 0; dec.More(); i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if open == '{' {
			key, err := dec.Token()
			if err != nil {
				return jsonSyntaxError(err)
			}
			AppendJSONString(out, key.(string))
			out.WriteByte(':')
		}
		if err := copyValue(dec, out); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return jsonSyntaxError(err)
	}
	if open == '{' {
		out.WriteByte('}')
	} else {
		out.WriteByte(']')
	}
	return nil
}

func jsonSyntaxError(err error) error {
	if err == io.EOF {
		return errors.New("unexpected end of JSON input")
	}
	return err
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
