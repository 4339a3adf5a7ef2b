package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

const testToken = "tunnel-secret"

// app is a real HTTP server standing in for the program inside a VM.
type app struct {
	name  string
	addr  string
	srv   *http.Server
	posts atomic.Int64
	sse   chan struct{} // each receive lets /sse send its next event
}

func startApp(t testing.TB, name string) *app {
	t.Helper()
	a := &app{name: name, sse: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			a.posts.Add(1)
		}
		w.Header().Set("X-App", name)
		if v := r.URL.Query().Get("set-request-id"); v != "" {
			w.Header().Set("X-Request-Id", v) // an app with IDs of its own
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s", name, r.Method, r.URL.Path, body)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		json.NewEncoder(w).Encode(h)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-a.sse:
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		// n events, one every `every`: a stream with pauses.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		every, _ := time.ParseDuration(r.URL.Query().Get("every"))
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			if i > 0 {
				select {
				case <-time.After(every):
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.Conn) {
		for {
			var msg string
			if websocket.Message.Receive(ws, &msg) != nil || websocket.Message.Send(ws, msg) != nil {
				return
			}
		}
	}))
	a.srv = &http.Server{Handler: mux}
	a.addr = serveWith(t, a.srv)
	return a
}

// closeAppConns makes the app close its idle keep-alive connections.
func closeAppConns(t testing.TB, a *app) {
	t.Helper()
	a.srv.SetKeepAlivesEnabled(false) // closes idle connections
	a.srv.SetKeepAlivesEnabled(true)
}

// serveHTTP serves h on a loopback port until the test ends.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	return serveWith(t, &http.Server{Handler: h})
}

// serveEdge serves e as the edge command does: its own server on its own
// listener, on a loopback port until the test ends.
func serveEdge(t testing.TB, e *Edge) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.NewServer("")
	go e.Serve(srv, e.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func serveWith(t testing.TB, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// startNode runs a real tunnel listener (what the node agent runs) that
// knows the given instances.
func startNode(t testing.TB, instances map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.Serve(ctx, ln, testToken, func(id string) (string, bool) {
			a, ok := instances[id]
			return a, ok
		}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// testEdge is an edge on a real listener with a static route source.
type testEdge struct {
	*Edge
	src    *StaticSource
	addr   string
	client *http.Client
}

func startEdge(t testing.TB, routes ...api.Route) *testEdge {
	t.Helper()
	return startEdgeConfig(t, Config{}, routes...)
}

// startEdgeConfig is startEdge with settings; cfg.Source is set here.
func startEdgeConfig(t testing.TB, cfg Config, routes ...api.Route) *testEdge {
	t.Helper()
	src := NewStaticSource(routeTable(1, routes...))
	cfg.Source = src
	e := New(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, e.Ready)
	te := &testEdge{Edge: e, src: src, addr: serveEdge(t, e)}
	te.client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(te.client.CloseIdleConnections)
	return te
}

func routeTable(version int64, routes ...api.Route) api.RouteTable {
	return api.RouteTable{Version: version, AppsDomain: "localhost", Routes: routes, TunnelToken: testToken}
}

func apiRoute(host, deployment, status string, backends ...api.Backend) api.Route {
	return api.Route{Host: host, Project: "hello", Deployment: deployment, Status: status, Backends: backends}
}

// do sends a request for host through the edge and returns status and body.
func (te *testEdge) do(t *testing.T, method, host, path string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+te.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func (te *testEdge) get(t *testing.T, host, path string) (*http.Response, string) {
	return te.do(t, http.MethodGet, host, path, nil)
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		<-tick.C
	}
}

func wantPrefix(t *testing.T, body, prefix string) {
	t.Helper()
	if !strings.HasPrefix(body, prefix) {
		t.Fatalf("body %q, want prefix %q", body, prefix)
	}
}
