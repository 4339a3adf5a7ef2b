package edge

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestDirectTransport: with the direct transport the edge sends a
// backend's requests to its direct address, header-less, pooling the
// connections; a backend without one still goes through the tunnel; an
// edge without the transport ignores direct addresses. (The tunnel here
// leads to other apps than the direct addresses, so the answer shows the
// way taken.)
func TestDirectTransport(t *testing.T) {
	directA, tunnelA, tunnelB := startApp(t, "direct-a"), startApp(t, "tunnel-a"), startApp(t, "tunnel-b")
	node := startNode(t, map[string]string{"i-a": tunnelA.addr, "i-b": tunnelB.addr})
	routes := []api.Route{
		apiRoute("a.localhost", "d1", "ready", api.Backend{Instance: "i-a", NodeAddr: node, DirectAddr: directA.addr}),
		apiRoute("b.localhost", "d2", "ready", api.Backend{Instance: "i-b", NodeAddr: node}),
	}
	te := startEdgeConfig(t, Config{DirectTransport: true}, routes...)
	for range 3 {
		if _, body := te.get(t, "a.localhost", "/"); !strings.HasPrefix(body, "direct-a GET /") {
			t.Fatalf("a backend with a direct address answered %q, want direct-a", body)
		}
	}
	if dials := te.Stats().UpstreamDials; dials != 1 {
		t.Errorf("%d dials for three sequential requests, want 1 (pooled)", dials)
	}
	if _, body := te.get(t, "b.localhost", "/"); !strings.HasPrefix(body, "tunnel-b GET /") {
		t.Fatalf("a backend without a direct address answered %q, want the tunnel's tunnel-b", body)
	}

	tunnelOnly := startEdgeConfig(t, Config{}, routes...)
	if _, body := tunnelOnly.get(t, "a.localhost", "/"); !strings.HasPrefix(body, "tunnel-a GET /") {
		t.Fatalf("an edge without the direct transport answered %q, want the tunnel's tunnel-a", body)
	}
}

// TestDirectTransportRetries: a direct address that refuses (the port is
// no longer published) is a failed dial as the tunnel's: any request
// moves on to another instance, and the node is suspect.
func TestDirectTransportRetries(t *testing.T) {
	good := startApp(t, "good")
	nodeA, nodeB := startNode(t, nil), startNode(t, nil)
	te := startEdgeConfig(t, Config{DirectTransport: true}, apiRoute("a.localhost", "d1", "ready",
		api.Backend{Instance: "i-dead", NodeAddr: nodeA, Node: "n-a", DirectAddr: deadAddr(t)},
		api.Backend{Instance: "i-good", NodeAddr: nodeB, Node: "n-b", DirectAddr: good.addr}))
	for range 4 {
		if resp, body := te.do(t, http.MethodPost, "a.localhost", "/", strings.NewReader("x")); resp.StatusCode != 200 || !strings.HasPrefix(body, "good POST /") {
			t.Fatalf("answer %d %q, want good's", resp.StatusCode, body)
		}
	}
	te.mu.Lock()
	suspect := te.nodes[nodeKey("n-a", nodeA)].suspect()
	te.mu.Unlock()
	if !suspect {
		t.Error("the node whose direct address refused is not suspect")
	}
}

// TestOperatorSourceDirectSource: an edge with the direct transport
// reports its source address with every poll; one without reports none.
func TestOperatorSourceDirectSource(t *testing.T) {
	got := make(chan string, 4)
	op := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("direct_source") {
			got <- "direct_source=" + q.Get("direct_source")
		} else {
			got <- "none"
		}
		json.NewEncoder(w).Encode(api.RouteTable{Version: 1})
	}))
	for _, c := range []struct {
		direct bool
		src    string
		want   string
	}{{true, "10.9.0.5", "direct_source=10.9.0.5"}, {true, "", "direct_source="}, {false, "10.9.0.5", "none"}} {
		s := NewOperatorSource("http://"+op, "tok", nil, slog.New(slog.DiscardHandler))
		s.Direct, s.DirectSource = c.direct, c.src
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.poll(ctx, 0); err != nil {
			t.Fatal(err)
		}
		cancel()
		if g := <-got; g != c.want {
			t.Errorf("direct=%v source=%q: operator saw %s, want %s", c.direct, c.src, g, c.want)
		}
	}
}
