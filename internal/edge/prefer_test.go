package edge

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// appOn starts an app and a node agent for it; the backend names both.
func appOn(t *testing.T, name, region string) api.Backend {
	t.Helper()
	a := startApp(t, name)
	return api.Backend{Instance: "i-" + name, NodeAddr: startNode(t, map[string]string{"i-" + name: a.addr}), Region: region, Node: "n-" + name}
}

// served sends n GETs and counts the answering apps by name; anything
// but a 200 fails the test.
func (te *testEdge) served(t *testing.T, host string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		resp, body := te.get(t, host, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		seen[resp.Header.Get("X-App")]++
	}
	return seen
}

func TestRoutePrefersOwnRegion(t *testing.T) {
	us, eu1, eu2 := appOn(t, "us", "us"), appOn(t, "eu1", "eu"), appOn(t, "eu2", "eu")
	te := startEdgeConfig(t, Config{Region: "eu"}, apiRoute("hello.localhost", "d", "live", us, eu1, eu2))
	seen := te.served(t, "hello.localhost", 12)
	if seen["us"] != 0 || seen["eu1"] == 0 || seen["eu2"] == 0 {
		t.Fatalf("served by %v, want eu1 and eu2 (round-robin in the edge's region), never us", seen)
	}
}

// With no instance of its own region that answers, the edge goes to the
// nearest region (RegionOrder) first.
func TestRouteFallsBackToNearestRegion(t *testing.T) {
	ap, us := appOn(t, "ap", "ap"), appOn(t, "us", "us")
	dead := api.Backend{Instance: "i-eu", NodeAddr: deadAddr(t), Region: "eu", Node: "n-eu"}
	te := startEdgeConfig(t, Config{Region: "eu", RegionOrder: []string{"us", "ap"}},
		apiRoute("hello.localhost", "d", "live", ap, us),
		apiRoute("dead.localhost", "d2", "live", ap, dead, us))
	if seen := te.served(t, "hello.localhost", 6); seen["us"] != 6 {
		t.Fatalf("no instance in eu: served by %v, want us (nearest) only", seen)
	}
	if seen := te.served(t, "dead.localhost", 6); seen["us"] != 6 {
		t.Fatalf("eu's node unreachable: served by %v, want us (nearest) only", seen)
	}
}

// After a failed dial to a node, a request's remaining attempts skip the
// node's other instances: three instances on one dead node do not use up
// the three attempts.
func TestRetrySkipsFailedNode(t *testing.T) {
	live := appOn(t, "live", "")
	dead := deadAddr(t)
	var bs []api.Backend
	for _, id := range []string{"d1", "d2", "d3"} {
		bs = append(bs, api.Backend{Instance: id, NodeAddr: dead, Node: "n-dead"})
	}
	// SuspectFor < 0: no memory across requests, so each one meets the dead node.
	te := startEdgeConfig(t, Config{SuspectFor: -1}, apiRoute("hello.localhost", "d", "live", append(bs, live)...))
	if seen := te.served(t, "hello.localhost", 8); seen["live"] != 8 {
		t.Fatalf("served by %v, want live only", seen)
	}
	if n := te.stats.upstreamErrors.Load(); n == 0 || n > 8 {
		t.Fatalf("%d failed attempts over 8 requests, want one at most per request", n)
	}
}

// startNodeAt is startNode on a given address.
func startNodeAt(t *testing.T, addr string, instances map[string]string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.Serve(ctx, ln, testToken, func(id string) (string, bool) { a, ok := instances[id]; return a, ok }, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// A node whose dial failed is avoided by the next requests even once it
// answers again, until SuspectFor has passed; then it gets requests again.
func TestSuspectNodeAvoidedThenRetried(t *testing.T) {
	const suspectFor = 2 * time.Second
	b := appOn(t, "b", "")
	aAddr := deadAddr(t)
	a := api.Backend{Instance: "i-a", NodeAddr: aAddr, Node: "n-a"}
	te := startEdgeConfig(t, Config{SuspectFor: suspectFor}, apiRoute("hello.localhost", "d", "live", a, b))
	// Round-robin starts at a: its dial fails, b answers. The suspicion
	// starts after before, so it lasts at least until before+suspectFor.
	before := time.Now()
	if seen := te.served(t, "hello.localhost", 1); seen["b"] != 1 {
		t.Fatalf("served by %v, want b", seen)
	}
	if n := te.stats.upstreamErrors.Load(); n != 1 {
		t.Fatalf("%d failed attempts, want 1 (the dial to a)", n)
	}
	app := startApp(t, "a")
	startNodeAt(t, aAddr, map[string]string{"i-a": app.addr})
	// a answers now, but is suspect: requests that end within the
	// suspicion all go to b.
	within := 0
	for time.Since(before) < suspectFor/2 {
		resp, body := te.get(t, "hello.localhost", "/")
		if time.Since(before) >= suspectFor {
			break // too slow a machine to tell
		}
		if got := resp.Header.Get("X-App"); got != "b" {
			t.Fatalf("request %d after the failed dial served by %q (%d %s), want b while a is suspect", within+1, got, resp.StatusCode, strings.TrimSpace(body))
		}
		within++
	}
	if within < 2 {
		t.Fatalf("only %d requests within the suspicion; the test proves nothing", within)
	}
	// After it, a is tried again, and its success ends the suspicion.
	deadline := time.Now().Add(suspectFor + 10*time.Second)
	for {
		resp, _ := te.get(t, "hello.localhost", "/")
		if resp.Header.Get("X-App") == "a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a got no request after the suspicion")
		}
	}
	if time.Since(before) < suspectFor {
		t.Fatalf("a served %s after the failed dial, within the suspicion of %s", time.Since(before), suspectFor)
	}
	te.mu.Lock()
	n := te.nodes["n-a"]
	te.mu.Unlock()
	if n.until.Load() != 0 {
		t.Fatal("a answered but is still marked suspect")
	}
}
