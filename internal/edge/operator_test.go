package edge

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// fakeOperator serves /v1/edge/routes the way the operator does: it holds a
// poll until the table is newer than ?after or a short hold expires.
type fakeOperator struct {
	mu      sync.Mutex
	table   api.RouteTable
	changed chan struct{}
	down    bool
	polls   int
}

func (f *fakeOperator) set(t api.RouteTable) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.table = t
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeOperator) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeOperator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/edge/routes" || r.Header.Get("Authorization") != "Bearer edge-token" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		http.Error(w, "bad after", http.StatusBadRequest)
		return
	}
	hold := time.After(200 * time.Millisecond)
	for {
		f.mu.Lock()
		f.polls++
		t, changed, down := f.table, f.changed, f.down
		f.mu.Unlock()
		if down {
			http.Error(w, "operator down", http.StatusServiceUnavailable)
			return
		}
		if t.Version > after {
			json.NewEncoder(w).Encode(t)
			return
		}
		select {
		case <-changed:
		case <-hold:
			json.NewEncoder(w).Encode(t)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func TestOperatorSource(t *testing.T) {
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i-a": a.addr})
	op := &fakeOperator{changed: make(chan struct{})}
	op.table = routeTable(1, apiRoute("hello.localhost", "d1", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	srv := httptest.NewServer(op)
	defer srv.Close()

	src := NewOperatorSource(srv.URL, "edge-token", srv.Client(), slog.New(slog.DiscardHandler))
	e := New(Config{Source: src}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	te := &testEdge{Edge: e, addr: serveHTTP(t, e), client: &http.Client{Timeout: 10 * time.Second}}
	waitFor(t, e.Ready)
	if resp, body := te.get(t, "hello.localhost", "/"); resp.StatusCode != 200 {
		t.Fatalf("first table: %d %q", resp.StatusCode, body)
	}

	// A change reaches the edge within a second, through the held poll.
	op.set(routeTable(2, apiRoute("hello.localhost", "d2", "building")))
	start := time.Now()
	waitFor(t, func() bool { resp, _ := te.get(t, "hello.localhost", "/"); return resp.StatusCode == 503 })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("route change took %v", d)
	}

	// With the operator down, the edge keeps the last table and polls on.
	op.setDown(true)
	op.mu.Lock()
	polls := op.polls
	op.mu.Unlock()
	waitFor(t, func() bool { op.mu.Lock(); defer op.mu.Unlock(); return op.polls > polls+1 })
	if resp, body := te.get(t, "hello.localhost", "/"); resp.StatusCode != 503 {
		t.Fatalf("while the operator is down: %d %q", resp.StatusCode, body)
	}

	// Back up, with a new table: the edge reconnects and applies it.
	op.set(routeTable(3, apiRoute("hello.localhost", "d3", "live", api.Backend{Instance: "i-a", NodeAddr: node})))
	op.setDown(false)
	waitFor(t, func() bool { resp, _ := te.get(t, "hello.localhost", "/"); return resp.StatusCode == 200 })
}

func TestOperatorSourceStopsOnCancel(t *testing.T) {
	op := &fakeOperator{changed: make(chan struct{})}
	srv := httptest.NewServer(op)
	defer srv.Close()
	src := NewOperatorSource(srv.URL, "wrong-token", srv.Client(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := src.Watch(ctx, func(api.RouteTable) { t.Error("update with a rejected token") }); err != nil {
		t.Fatal(err)
	}
}
