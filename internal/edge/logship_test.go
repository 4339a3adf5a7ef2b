package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestLogShipperRetriesAndBounds: a batch the operator refused is sent
// again, in order, once; lines past the queue's bound are dropped and
// counted instead of growing the edge's memory.
func TestLogShipperRetriesAndBounds(t *testing.T) {
	var mu sync.Mutex
	var got []string
	calls := 0
	addr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if r.URL.Path != "/v1/edge/logs" || r.Header.Get("Authorization") != "Bearer edge-tok" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if calls == 1 { // the operator is restarting
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var b api.EdgeLogBatch
		json.NewDecoder(r.Body).Decode(&b)
		for _, l := range b.Lines {
			got = append(got, l.Project+":"+l.Text)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s := NewLogShipper("http://"+addr+"/", "edge-tok", nil, slog.New(slog.DiscardHandler))
	for i := range 3 {
		s.add(api.EdgeLogLine{Project: "hello", Time: time.Now(), Text: fmt.Sprint(i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitForLong(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
	mu.Lock()
	if fmt.Sprint(got) != "[hello:0 hello:1 hello:2]" || calls != 2 {
		t.Fatalf("shipped %v in %d calls, want the 3 lines once, after one refused call", got, calls)
	}
	mu.Unlock()

	idle := NewLogShipper("http://"+addr, "edge-tok", nil, slog.New(slog.DiscardHandler))
	for range shipQueue + 5 {
		idle.add(api.EdgeLogLine{Project: "hello"})
	}
	if idle.Dropped() != 5 || len(idle.queue) != shipQueue {
		t.Fatalf("dropped %d, queued %d; want 5 and %d", idle.Dropped(), len(idle.queue), shipQueue)
	}
}

// waitForLong is waitFor with its own deadline, for shipping's 1 s pace.
func waitForLong(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEdgeShipsRoutedRequests: an edge with Config.Ship queues the access
// log line of each routed request under its project, and none for hosts
// without a route (a hostile Host header must not reach the operator).
func TestEdgeShipsRoutedRequests(t *testing.T) {
	lines := make(chan api.EdgeLogLine, 16)
	addr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b api.EdgeLogBatch
		json.NewDecoder(r.Body).Decode(&b)
		for _, l := range b.Lines {
			lines <- l
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	te := startEdgeConfig(t, Config{Ship: NewLogShipper("http://"+addr, "edge-tok", nil, slog.New(slog.DiscardHandler))},
		helloRoutes(t)...)
	req := func(host, id string) {
		r, _ := http.NewRequest("GET", "http://"+te.addr+"/p", nil)
		r.Host = host
		r.Header.Set("X-Request-ID", id)
		resp, err := te.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req("nope.localhost", "unrouted-1")
	req("hello.localhost", "routed-1")
	select {
	case l := <-lines:
		var a struct {
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(l.Text), &a); err != nil || l.Project != "hello" || a.RequestID != "routed-1" || a.Status != 200 || l.Time.IsZero() {
			t.Fatalf("shipped %+v (%v)", l, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no line shipped within 10s")
	}
	select {
	case l := <-lines:
		t.Fatalf("a second line was shipped: %+v", l)
	default:
	}
}

// TestLogShipperDroppedMetric: lines the shipper had to drop show in the
// edge's metrics.
func TestLogShipperDroppedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	sh := NewLogShipper("http://127.0.0.1:1", "edge-tok", nil, slog.New(slog.DiscardHandler))
	New(Config{Source: NewStaticSource(routeTable(1)), Metrics: reg, Ship: sh}, slog.New(slog.DiscardHandler))
	for range shipQueue + 3 {
		sh.add(api.EdgeLogLine{Project: "hello"})
	}
	want := `
# HELP zeitwork_edge_log_lines_dropped_total Access log lines not shipped to the operator because too many were waiting (--ship-logs only).
# TYPE zeitwork_edge_log_lines_dropped_total counter
zeitwork_edge_log_lines_dropped_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "zeitwork_edge_log_lines_dropped_total"); err != nil {
		t.Fatal(err)
	}
}
