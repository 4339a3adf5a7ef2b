package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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
func readJSONLimit(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("send a JSON object as documented in docs/api.md", "invalid request body: %v", err)
	}
	return nil
}
