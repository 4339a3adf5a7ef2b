package operator

import (
	"net/http"
	"runtime/debug"

	"github.com/zeitwork/zeitwork/internal/api"
)

// recovering turns a panic in an API handler into a logged stack and,
// unless the answer had begun, a 500 with the API's error JSON. Without
// it net/http drops the connection, and the CLI can only report "EOF" as
// if the operator were unreachable.
func (o *Operator) recovering(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares it so too
				panic(v)
			}
			o.log.Error("api handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if sw.code != 0 {
				panic(http.ErrAbortHandler) // the answer began: cut it rather than append an error to it
			}
			auditFrom(r.Context()).setError("internal error (panic)")
			writeJSON(w, http.StatusInternalServerError, api.Error{Error: "internal error; the operator's log has details",
				Hint: "try again; if it persists, report it with the time and the command"})
		}()
		h(sw, r)
	}
}
