package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
)

// apiError is an error with the HTTP status and hint the user should see.
type apiError struct {
	status int
	msg    string
	hint   string
}

func (e *apiError) Error() string { return e.msg }

func invalid(hint, format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...), hint}
}

func notFound(hint, format string, args ...any) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...), hint}
}

// tooLarge is a request that would take something over a size or count limit.
func tooLarge(hint, format string, args ...any) error {
	return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf(format, args...), hint}
}

func conflict(hint, format string, args ...any) error {
	return &apiError{http.StatusConflict, fmt.Sprintf(format, args...), hint}
}

// writeError maps an error to its status in one place. A missing row is a
// 404 wherever it comes from, including pgx's ErrNoRows that a handler
// passed on unclassified: handlers look rows up within the caller's
// organisation, so another organisation's row is missing too, and the
// answer does not reveal that it exists.
func (o *Operator) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	err = store.Classify(err)
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "not found: " + r.URL.Path,
			"check the name or id; `zeitwork status` lists your projects and deployments"}
	case errors.Is(err, store.ErrConflict):
		ae = &apiError{http.StatusConflict, "already exists", "choose another name"}
	case r.Context().Err() != nil:
		auditFrom(r.Context()).setError("the client went away: " + err.Error())
		return // the client went away; nobody is left to answer
	default:
		o.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{http.StatusInternalServerError, "internal error; the operator's log has details", ""}
	}
	auditFrom(r.Context()).setError(ae.msg)
	if ae.status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// RFC 9110: a 401 names the scheme to authenticate with.
		w.Header().Set("WWW-Authenticate", `Bearer realm="zeitwork"`)
	}
	writeJSON(w, ae.status, api.Error{Error: ae.msg, Hint: ae.hint})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// readJSON decodes a request body strictly: unknown fields are errors, so a
// typo does not silently do nothing.
func readJSON(r *http.Request, v any) error { return readJSONLimit(r, v, 1<<20) }

// readJSONLimit is readJSON for bodies that may be larger (log batches).
// It takes exactly one JSON value: trailing data is an error too, so that
// a body two clients' writes were glued into is not half applied.
func readJSONLimit(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return bodyError(err, limit)
		}
		return invalid(bodyHint, "invalid request body: more than one JSON value; send one JSON object")
	}
	return nil
}

const bodyHint = "send one JSON object with the fields documented in docs/api.md"

// bodyError says what is wrong with a request body in the API's terms (JSON
// types and field names), not in Go's (EOF, struct and type names).
func bodyError(err error, limit int64) error {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return tooLarge("send a smaller body", "request body is larger than the limit of %d bytes", limit)
	case errors.Is(err, io.EOF):
		return invalid(bodyHint, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid(bodyHint, "invalid request body: the JSON ends early")
	case errors.As(err, &syntax):
		return invalid(bodyHint, "invalid request body: not JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return invalid(bodyHint, "invalid request body: want a JSON %s, got %s", jsonType(typeErr.Type), typeErr.Value)
	case errors.As(err, &typeErr):
		return invalid(bodyHint, "invalid request body: field %q must be %s, not %s", typeErr.Field, article(jsonType(typeErr.Type)), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("check the field's name in docs/api.md", "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return invalid(bodyHint, "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names the JSON type a Go type is decoded from.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}
