package edge

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// resetRelay is a TCP relay in front of a node's tunnel listener that can
// reset every connection it carries, as a node that crashed would: the
// edge's next read of such a connection fails with ECONNRESET.
type resetRelay struct {
	addr  string
	mu    sync.Mutex
	conns []*net.TCPConn
}

func startResetRelay(t *testing.T, to string) *resetRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &resetRelay{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c.(*net.TCPConn))
			r.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return r
}

// reset ends every connection with a RST.
func (r *resetRelay) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.SetLinger(0)
		c.Close()
	}
}

// A tunnel that breaks in the middle of a response body makes its node
// suspect, as one that breaks before the response head does: the client
// sees the body cut off, and the next requests avoid the node. An app
// that ends its own body short does not.
func TestTunnelBrokenMidBodyMarksNodeSuspect(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	appAddr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			io.WriteString(w, "ok")
			return
		case "/short": // the app's own failure: it ends its body short
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "ten bytes.")
			return
		}
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	rl := startResetRelay(t, startNode(t, map[string]string{"i-mid": appAddr}))
	te := startEdgeConfig(t, Config{SuspectFor: time.Minute}, apiRoute("hello.localhost", "d", "live",
		api.Backend{Instance: "i-mid", NodeAddr: rl.addr, Node: "n-mid"}))

	// A kept-alive tunnel, which the streamed request then reuses.
	if resp, body := te.get(t, "hello.localhost", "/"); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+te.addr+"/stream", nil)
	req.Host = "hello.localhost"
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	part := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, part); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the streamed response's start: %d %q %v", resp.StatusCode, part, err)
	}
	if te.node("n-mid").suspect() {
		t.Fatal("the node is suspect before its tunnel broke")
	}
	short, _ := http.NewRequest(http.MethodGet, "http://"+te.addr+"/short", nil)
	short.Host = "hello.localhost"
	if sresp, err := te.client.Do(short); err == nil {
		io.ReadAll(sresp.Body)
		sresp.Body.Close()
	}
	if te.node("n-mid").suspect() {
		t.Fatal("an app that ended its body short made its node suspect")
	}
	rl.reset()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the client got a whole body from a broken tunnel, want it cut off")
	}
	if !te.node("n-mid").suspect() {
		t.Fatal("a tunnel broken mid-body left its node not suspect")
	}
}
