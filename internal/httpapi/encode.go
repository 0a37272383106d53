package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// writeJSON writes v as compact JSON without HTML escaping.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"developerMessage":"Internal server error","errorType":"INTERNAL_ERROR","violations":[]}`, 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// readBody reads a JSON request body of at most limit bytes. It returns
// UnsupportedMedia for a Content-Type other than JSON (an absent one is
// taken as JSON), TooLarge above the limit, and a *bodyReadError when the
// body ends early or arrives too slowly (the client's doing, see writeError).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return nil, webhook.Errorf(webhook.UnsupportedMedia, "Content-Type must be application/json, not %q", ct)
		}
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, webhook.Errorf(webhook.TooLarge, "Request body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, &bodyReadError{err}
	}
	return body, nil
}

// maxPresized bounds the buffer readAll allocates ahead on the word of a
// Content-Length header, which a client may send without the body.
const maxPresized = 64 << 10

// readAll is io.ReadAll with a first buffer of the announced size (up to
// maxPresized), so a body is read into one allocation instead of a
// doubling series of them.
func readAll(r io.Reader, announced int64) ([]byte, error) {
	size := 512
	if announced > 0 {
		size = int(min(announced, maxPresized)) + 1 // + 1: room to read the EOF
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}

// decodeJSON decodes body into v, turning syntax and type errors into
// Invalid errors that name the offending field.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return webhook.Errorf(webhook.Invalid, "Request body must be a JSON object")
	}
	if webhook.Depth(body) > webhook.MaxDepth {
		return webhook.Errorf(webhook.Invalid, "Request body nests arrays and objects deeper than %d levels", webhook.MaxDepth)
	}
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &webhook.Error{Code: webhook.Invalid, Message: fmt.Sprintf("Field %s must be %s", typeErr.Field, jsonKind(typeErr.Type.String())),
			Violations: []webhook.Violation{{PropertyName: typeErr.Field, DeveloperMessage: "must be " + jsonKind(typeErr.Type.String()), ConstraintType: "TYPE"}}}
	case errors.As(err, &typeErr):
		return webhook.Errorf(webhook.Invalid, "Request body must be a JSON object")
	case errors.As(err, &syntaxErr):
		return webhook.Errorf(webhook.Invalid, "Request body is not valid JSON (offset %d)", syntaxErr.Offset)
	}
	return webhook.Errorf(webhook.Invalid, "Request body is not valid JSON")
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array of strings"
	case strings.Contains(goType, "string"):
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return "of another type"
}
