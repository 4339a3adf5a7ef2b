package edge

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// newRequestIDs returns the prefix of this edge's request IDs: random, so
// that IDs from several edges and restarts do not collide; a counter
// follows it.
func newRequestIDs() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// setRequestID gives r its X-Request-ID, passed to the app and returned
// to the client: the client's own if it is a plausible ID (so that a
// client can follow its request through), else a new one. The value is
// checked because apps log it.
func (e *Edge) setRequestID(w http.ResponseWriter, r *http.Request) string {
	if v := r.Header["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
		w.Header()["X-Request-Id"] = v
		return v[0]
	}
	// Built on the stack and converted once: one allocation, not three.
	var buf [64]byte
	id := string(strconv.AppendUint(append(buf[:0], e.idPrefix...), e.idSeq.Add(1), 36))
	v := []string{id}
	r.Header["X-Request-Id"] = v
	w.Header()["X-Request-Id"] = v
	return id
}

// validRequestID accepts 1 to 128 letters, digits and . _ : - (what UUIDs
// and common tracing IDs use).
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// accessWriter counts a response's body bytes and learns which route and
// instance served it, for the access log line and the per-project metrics.
type accessWriter struct {
	http.ResponseWriter
	bytes    int64
	route    *route
	instance string
}

func (a *accessWriter) Write(p []byte) (int, error) {
	n, err := a.ResponseWriter.Write(p)
	a.bytes += int64(n)
	return n, err
}

// Flush and Hijack keep streaming and upgrades working through the wrapper.
func (a *accessWriter) Flush() { http.NewResponseController(a.ResponseWriter).Flush() }

func (a *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(a.ResponseWriter).Hijack()
}

func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// noteRoute and noteInstance record what served the request, if w is
// the access log's writer.
func noteRoute(w http.ResponseWriter, rt *route) {
	if a, ok := w.(*accessWriter); ok {
		a.route = rt
	}
}

func noteInstance(w http.ResponseWriter, b *backend) {
	if a, ok := w.(*accessWriter); ok {
		a.instance = b.key.instance
	}
}

// logAccess writes the request's access log line (JSON, one per request)
// and queues it for the operator if the edge ships them.
func (e *Edge) logAccess(r *http.Request, a *accessWriter, id string, code int, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("client", clientAddr(r).String()),
		slog.String("host", r.Host),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", code),
		slog.Int64("bytes", a.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if rt := a.route; rt != nil {
		attrs = append(attrs, slog.String("project", rt.project), slog.String("deployment", rt.deployment))
	}
	if a.instance != "" {
		attrs = append(attrs, slog.String("instance", a.instance))
	}
	if e.access != nil {
		e.access.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	}
	if e.cfg.Ship != nil && a.route != nil {
		e.shipAccess(a.route.project, attrs)
	}
}

var (
	_ http.Flusher  = (*accessWriter)(nil)
	_ http.Hijacker = (*accessWriter)(nil)
)
