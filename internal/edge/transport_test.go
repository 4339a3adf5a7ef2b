package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// vanish makes the kernel drop every packet sent from addr's port, as if
// the node there had lost power: no reset, no acknowledgement. The rule
// lives in an nftables table of this test process's own, removed at the end.
func vanish(t *testing.T, addr string) {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("zwedge_vanish_%d", os.Getpid())
	rules := fmt.Sprintf("table inet %s {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip saddr 127.0.0.1 tcp sport %s drop\n }\n}\n", table, port)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft (run ./scripts/install-deps.sh, as root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", table).Run() })
}

func (te *testEdge) node(id string) *nodeHealth {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.nodes[id]
}

// A node that vanishes under a kept-alive tunnel is suspect once the
// tunnel times out (TCP_USER_TIMEOUT), as after a failed dial: the next
// requests go to the other node instead of each waiting out the timeout.
// POSTs, so that no retry hides the failed attempt.
func TestTunnelTimeoutMarksNodeSuspect(t *testing.T) {
	a, b := appOn(t, "a", ""), appOn(t, "b", "")
	te := startEdgeConfig(t, Config{TunnelUserTimeout: time.Second, SuspectFor: time.Minute},
		apiRoute("hello.localhost", "d", "live", a, b))
	post := func() (*http.Response, string) {
		return te.do(t, http.MethodPost, "hello.localhost", "/", strings.NewReader("x"))
	}
	// Kept-alive tunnels to both nodes.
	seen := map[string]int{}
	for range 4 {
		resp, body := post()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		seen[resp.Header.Get("X-App")]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("served by %v, want both", seen)
	}
	vanish(t, a.NodeAddr)
	failures := 0
	for i := range 6 {
		resp, body := post()
		switch {
		case resp.StatusCode == http.StatusBadGateway:
			failures++
			if !strings.Contains(body, "connection to its node broke") {
				t.Fatalf("502 says %q, want the broken tunnel named", body)
			}
		case resp.StatusCode != http.StatusOK || resp.Header.Get("X-App") != "b":
			t.Fatalf("request %d: %d from %q: %s", i, resp.StatusCode, resp.Header.Get("X-App"), body)
		}
	}
	if failures != 1 {
		t.Fatalf("%d requests failed on the vanished node, want 1 (then it is suspect)", failures)
	}
	if !te.node("n-a").suspect() || te.node("n-b").suspect() {
		t.Fatalf("suspect: a %v, b %v; want a only", te.node("n-a").suspect(), te.node("n-b").suspect())
	}
}

// An app's own slowness is no node failure: neither an answer later than
// the tunnel's user timeout, nor an upload the app does not read for that
// long (the node's window closes: also ETIMEDOUT), nor a client that gives
// up waiting makes the node suspect.
func TestSlowAppDoesNotMarkNode(t *testing.T) {
	const slow = 2500 * time.Millisecond
	appAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "read %d", n)
	}))
	be := api.Backend{Instance: "i-slow", NodeAddr: startNode(t, map[string]string{"i-slow": appAddr}), Node: "n-slow"}
	te := startEdgeConfig(t, Config{TunnelUserTimeout: time.Second, SuspectFor: time.Minute},
		apiRoute("hello.localhost", "d", "live", be))
	te.client.Timeout = time.Minute

	resp, body := te.get(t, "hello.localhost", "/")
	if resp.StatusCode != http.StatusOK || te.node("n-slow").suspect() {
		t.Fatalf("slow answer: %d %s, suspect %v; want 200 and not suspect", resp.StatusCode, body, te.node("n-slow").suspect())
	}

	// Far more than the socket buffers on the way hold, so that the
	// node's window is zero while the app sleeps.
	resp, body = te.do(t, http.MethodPost, "hello.localhost", "/", bytes.NewReader(make([]byte, 64<<20)))
	if te.node("n-slow").suspect() {
		t.Fatalf("unread upload (%d %s) made the node suspect", resp.StatusCode, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+te.addr+"/", nil)
	req.Host = "hello.localhost"
	if resp, err := te.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("client that gave up got %d", resp.StatusCode)
	}
	// The edge counts the departed client's request (499) once it is done with it.
	waitFor(t, func() bool { return te.stats.responses[4].Load() == 1 })
	if te.node("n-slow").suspect() {
		t.Fatal("a client that gave up made the node suspect")
	}
}
