package lb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/lb"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// A real edge behind the load balancer, trusting its address for PROXY
// protocol: the app, the access log and the per-client rate limit all see
// the real client addresses, not the load balancer's.
func TestEdgeBehindLoadBalancer(t *testing.T) {
	var logBuf syncBuffer
	lim := api.RateLimits{Client: api.RateLimit{Rate: 0.01, Burst: 2}}
	e, edgeAddr := startEdgeWithApp(t, &logBuf, &lim)
	host, port, _ := net.SplitHostPort(edgeAddr)
	p, _ := strconv.Atoi(port)
	cfg, err := lb.ParseConfig(fmt.Appendf(nil, `{"region":"eu",
		"listeners":[{"listen":"127.0.0.1:0","edge_port":%d}],
		"regions":[{"name":"eu","edges":[%q]}],
		"health":{"interval":"50ms","http_path":"/healthz"}}`, p, host))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lb.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	lns, err := lb.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Serve(ctx, lns) }()
	t.Cleanup(func() { cancel(); <-done })
	lbURL := "http://" + lns[0].Addr().String() + "/"
	// HTTP checks with a PROXY LOCAL header pass: the edge answers them
	// (404, no app at the check's host).
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().NoRoute < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := e.Stats(); st.NoRoute < 2 || st.Refused["proxy_header"] != 0 || !l.Backends()[0].Up {
		t.Fatalf("health checks: edge stats %+v, backends %+v; want checks answered, no PROXY refusals, edge up", st, l.Backends())
	}

	one, two := clientFrom(t, "127.0.0.77"), clientFrom(t, "127.0.0.78")
	for i := range 2 {
		code, body := get(t, one, lbURL)
		if code != 200 || body != "127.0.0.77" {
			t.Fatalf("request %d from 127.0.0.77: %d %q, want 200 and the app seeing 127.0.0.77", i, code, body)
		}
	}
	if code, _ := get(t, one, lbURL); code != http.StatusTooManyRequests {
		t.Fatalf("third request from 127.0.0.77: %d, want 429 (its own limit)", code)
	}
	if code, body := get(t, two, lbURL); code != 200 || body != "127.0.0.78" {
		t.Fatalf("another client: %d %q, want 200 (a limit of its own)", code, body)
	}
	// Lines are written after each answer; the load balancer's checks
	// have lines of their own (host zeitwork-lb-check).
	var clients map[string]int
	deadline = time.Now().Add(5 * time.Second)
	for len(clients) < 2 || clients["127.0.0.77"] < 3 {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
		clients = appClients(t, logBuf.Bytes())
	}
	if clients["127.0.0.77"] != 3 || clients["127.0.0.78"] != 1 || len(clients) != 2 {
		t.Fatalf("access log clients %v, want 127.0.0.77 x3 and 127.0.0.78 x1", clients)
	}
}

// startEdgeWithApp runs an app that answers with the client address the
// edge forwards (X-Real-IP), a node tunnel to it, and an edge on
// 127.0.3.1 routing hello.localhost there, trusting PROXY headers from
// 127.0.0.1 (the load balancer's source address on loopback).
func startEdgeWithApp(t *testing.T, accessLog io.Writer, lim *api.RateLimits) (*edge.Edge, string) {
	t.Helper()
	appAddr := serve(t, "127.0.0.1:0", &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Real-IP"))
	})})
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go tunnel.Serve(ctx, tln, "tok", func(string) (string, bool) { return appAddr, true }, slog.New(slog.DiscardHandler))
	route := api.Route{Host: "127.0.0.1", Project: "hello", Deployment: "d", Status: "live", Limits: lim,
		Backends: []api.Backend{{Instance: "i", NodeAddr: tln.Addr().String()}}}
	src := edge.NewStaticSource(api.RouteTable{Version: 1, AppsDomain: "localhost", TunnelToken: "tok",
		Routes: []api.Route{route}})
	e := edge.New(edge.Config{Source: src, AccessLog: accessLog,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, slog.New(slog.DiscardHandler))
	go e.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for !e.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("edge not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ln, err := net.Listen("tcp", "127.0.3.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.NewServer("")
	go srv.Serve(e.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return e, ln.Addr().String()
}

func serve(t *testing.T, addr string, srv *http.Server) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// clientFrom is an HTTP client whose connections come from local, a
// loopback address (all of 127.0.0.0/8 is loopback on Linux).
func clientFrom(t *testing.T, local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for the edge's writes and the test's read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// appClients counts the access log's requests for the app by client.
func appClients(t *testing.T, log []byte) map[string]int {
	clients := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
		var entry struct{ Client, Project string }
		if err := json.Unmarshal(line, &entry); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if entry.Project == "hello" {
			clients[entry.Client]++
		}
	}
	return clients
}
