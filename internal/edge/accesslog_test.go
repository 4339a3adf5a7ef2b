package edge

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestRequestID: every request gets an X-Request-ID that the app sees and
// the client gets back, error pages included; a client's plausible ID is
// kept, anything else replaced.
func TestRequestID(t *testing.T) {
	te := startEdge(t, helloRoutes(t)...)
	seen := func(hdr string) (sent, app string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+te.addr+"/headers", nil)
		req.Host = "hello.localhost"
		if hdr != "" {
			req.Header.Set("X-Request-ID", hdr)
		}
		resp, err := te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h http.Header
		json.NewDecoder(resp.Body).Decode(&h)
		return resp.Header.Get("X-Request-Id"), h.Get("X-Request-Id")
	}
	a, appA := seen("")
	b, _ := seen("")
	if a == "" || a != appA || a == b {
		t.Fatalf("request IDs: returned %q, app saw %q, next %q; want one new ID per request, the same on both sides", a, appA, b)
	}
	if got, app := seen("trace-4bf92f3577b34da6"); got != "trace-4bf92f3577b34da6" || app != got {
		t.Fatalf("client's ID: returned %q, app saw %q", got, app)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 129), "quote\"", "semi;colon"} {
		if got, app := seen(bad); got == bad || app != got || got == "" {
			t.Fatalf("client's ID %q: returned %q, app saw %q; want a new one on both sides", bad, got, app)
		}
	}
	resp, _ := te.get(t, "nowhere.localhost", "/")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("404 without X-Request-ID")
	}
	// The edge's ID, the one in its access log, is what the client gets.
	resp, _ = te.get(t, "hello.localhost", "/?set-request-id=app-own")
	if id := resp.Header.Get("X-Request-Id"); id == "" || id == "app-own" || len(resp.Header["X-Request-Id"]) != 1 {
		t.Fatalf("app's own request ID: returned %q", resp.Header["X-Request-Id"])
	}
}

// syncBuffer is a bytes.Buffer the edge may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestAccessLogJSON: one JSON line per request with host, project,
// deployment, instance, status, bytes, duration, client address and
// request ID; a refused request is logged with its status too.
func TestAccessLogJSON(t *testing.T) {
	var log syncBuffer
	routes := helloRoutes(t)
	routes[0].Limits = &api.RateLimits{Client: api.RateLimit{Rate: 0.1, Burst: 1}}
	te := startEdgeConfig(t, Config{AccessLog: &log}, routes...)
	resp, body := te.get(t, "hello.localhost", "/x")
	te.get(t, "hello.localhost", "/x")  // 429
	te.get(t, "nowhere.localhost", "/") // 404
	waitFor(t, func() bool { return len(log.lines(t)) == 3 })
	ls := log.lines(t)
	ok := ls[0]
	want := map[string]any{"host": "hello.localhost", "project": "hello", "deployment": "d", "instance": "i-a",
		"status": 200.0, "bytes": float64(len(body)), "client": "127.0.0.1", "method": "GET", "path": "/x",
		"request_id": resp.Header.Get("X-Request-Id")}
	for k, v := range want {
		if ok[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, ok[k], v, ok)
		}
	}
	if d, _ := ok["duration_ms"].(float64); d <= 0 {
		t.Errorf("duration_ms %v", ok["duration_ms"])
	}
	if ls[1]["status"] != 429.0 || ls[1]["project"] != "hello" || ls[1]["instance"] != nil {
		t.Errorf("rate-limited request logged as %v", ls[1])
	}
	if ls[2]["status"] != 404.0 || ls[2]["project"] != nil {
		t.Errorf("unknown host logged as %v", ls[2])
	}
}
