package edge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// wire records the bytes a relay carries from the edge to the node.
type wire struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *wire) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// relay forwards TCP connections to addr, copying what the edge sends,
// as a machine on the path between an edge and a node sees it.
func relay(t *testing.T, addr string) (string, *wire) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &wire{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(io.MultiWriter(up, w), c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String(), w
}

// credential issues a certificate of role from ca to a fresh key.
func credential(t testing.TB, ca *pki.CA, role string, hosts ...string) *pki.Credential {
	t.Helper()
	key, cert, err := ca.Issue(pki.Request{Role: role, ID: role, Hosts: hosts, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.LoadCredential(cert, key, ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// startTLSNode runs a node's tunnel listener with a certificate of ca for
// 127.0.0.1, the instance i-a answering "hello from the app".
func startTLSNode(t testing.TB, ca *pki.CA) string {
	t.Helper()
	app := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello from the app")
	}))
	return startTLSNodeFor(t, ca, app)
}

// startTLSNodeFor is startTLSNode with i-a at app.
func startTLSNodeFor(t testing.TB, ca *pki.CA, app string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.ServeTLS(ctx, ln, pki.TunnelServer(credential(t, ca, pki.RoleNode, "127.0.0.1")),
			func(id string) (string, bool) { return app, id == "i-a" }, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// TestTunnelTrafficIsTLS: between edge and node the wire carries a TLS
// handshake and records, never the request's Host header, the tunnel
// header or the app's answer in the clear.
func TestTunnelTrafficIsTLS(t *testing.T) {
	ca, _, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	via, w := relay(t, startTLSNode(t, ca))
	te := startEdgeConfig(t, Config{TunnelTLS: pki.TunnelClient(credential(t, ca, pki.RoleEdge))},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: via}))
	resp, body := te.do(t, "GET", "hello.localhost", "/secret-path", nil)
	if resp.StatusCode != 200 || body != "hello from the app" {
		t.Fatalf("through the TLS tunnel: %d %q", resp.StatusCode, body)
	}
	sent := w.bytes()
	if len(sent) < 3 || sent[0] != 0x16 || sent[1] != 0x03 {
		t.Fatalf("the edge's first bytes are no TLS handshake record: % x", sent[:min(len(sent), 8)])
	}
	for _, plain := range []string{"hello.localhost", "secret-path", "ZWT1", "i-a "} {
		if bytes.Contains(sent, []byte(plain)) {
			t.Errorf("%q crossed the wire in the clear", plain)
		}
	}
}

// TestEdgeRefusesAnotherCAsNode: a tunnel listener with a certificate of
// another CA gets no request.
func TestEdgeRefusesAnotherCAsNode(t *testing.T) {
	ca, _, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	node := startTLSNode(t, other)
	te := startEdgeConfig(t, Config{TunnelTLS: pki.TunnelClient(credential(t, ca, pki.RoleEdge))},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	if resp, body := te.do(t, "GET", "hello.localhost", "/", nil); resp.StatusCode == 200 {
		t.Fatalf("request reached a node of another CA: %q", body)
	}
}

// BenchmarkForwardTLS is BenchmarkForward over the mutual-TLS tunnel that
// node agents serve: the cost of TLS on pooled connections.
func BenchmarkForwardTLS(b *testing.B) {
	ca, _, err := pki.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	a := startApp(b, "a")
	node := startTLSNodeFor(b, ca, a.addr)
	e := startEdgeConfig(b, Config{TunnelTLS: pki.TunnelClient(credential(b, ca, pki.RoleEdge))},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node}))
	req, _ := http.NewRequest("GET", "http://hello.localhost/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.RequestURI = "/"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		e.ServeHTTP(w, req)
	}
}

// TestEdgeRefusesAnotherNodesCertificate: a node certificate of the CA,
// valid for the address, but of another node than the route names (a
// removed node whose host a new node took over) gets no request; the
// named node's does.
func TestEdgeRefusesAnotherNodesCertificate(t *testing.T) {
	ca, _, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	node := startTLSNode(t, ca) // its certificate is for node "node"
	edgeTLS := pki.TunnelClient(credential(t, ca, pki.RoleEdge))
	te := startEdgeConfig(t, Config{TunnelTLS: edgeTLS},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node, Node: "node-new"}))
	if resp, body := te.do(t, "GET", "hello.localhost", "/", nil); resp.StatusCode == 200 {
		t.Fatalf("request reached another node than the route names: %q", body)
	}
	te = startEdgeConfig(t, Config{TunnelTLS: edgeTLS},
		apiRoute("hello.localhost", "d", "live", api.Backend{Instance: "i-a", NodeAddr: node, Node: pki.RoleNode}))
	if resp, body := te.do(t, "GET", "hello.localhost", "/", nil); resp.StatusCode != 200 || body != "hello from the app" {
		t.Fatalf("the named node: %d %q", resp.StatusCode, body)
	}
}
