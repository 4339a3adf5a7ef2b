package operator_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/edge"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/tunnel"
)

// TestRemovedEdgeIsRefused: removing an edge refuses its token at once
// and lists it as removed; a node that polls its desired state as agents
// do learns the revocation, and its tunnel listener then refuses the
// edge's certificate and closes its open tunnel, while another edge keeps
// working.
func TestRemovedEdgeIsRefused(t *testing.T) {
	h := start(t)
	old, err := edge.Enrol(context.Background(), h.url, h.srv.JoinToken(t, "edge"), t.TempDir(), "edge-old", "")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := edge.Enrol(context.Background(), h.url, h.srv.JoinToken(t, "edge"), t.TempDir(), "edge-new", "")
	if err != nil {
		t.Fatal(err)
	}
	addr, revoked := h.nodeTunnel(t)

	oldConn, oldBr := openLineTunnel(t, addr, old.TunnelTLS)
	defer oldConn.Close()
	keptConn, keptBr := openLineTunnel(t, addr, kept.TunnelTLS)
	defer keptConn.Close()

	// The edge long-polls its routes as edges do; the removal must end the
	// poll with a refusal (whether it was parked yet or not).
	var rt api.RouteTable
	if code := h.call("GET", "/v1/edge/routes", old.Token, nil, &rt); code != 200 {
		t.Fatalf("edge routes: %d", code)
	}
	polled := make(chan int, 1)
	go func() {
		v := rt.Version
		for { // an unrelated change answers a poll early; poll again
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/edge/routes?after=%d", h.url, v), nil)
			req.Header.Set("Authorization", "Bearer "+old.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				polled <- 0
				return
			}
			var got api.RouteTable
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				polled <- resp.StatusCode
				return
			}
			v = got.Version
		}
	}()

	if code := h.call("DELETE", "/v1/edges/no-such-edge", h.token, nil, nil); code != http.StatusNotFound {
		t.Errorf("remove unknown edge: %d, want 404", code)
	}
	if code := h.call("DELETE", "/v1/edges/"+old.ID, kept.Token, nil, nil); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("an edge removed an edge: %d", code)
	}
	var removed api.RemovedEdge
	if code := h.call("DELETE", "/v1/edges/edge-old", h.token, nil, &removed); code != 200 || removed.ID != old.ID || removed.Hostname != "edge-old" {
		t.Fatalf("remove edge by hostname: %d %+v", code, removed)
	}

	select {
	case code := <-polled:
		if code != http.StatusUnauthorized {
			t.Errorf("the removed edge's long-poll ended with %d, want 401", code)
		}
	case <-time.After(20 * time.Second):
		t.Error("the removed edge's long-poll is still open")
	}
	// The token is refused at once, with what to do.
	var apiErr api.Error
	if code := h.call("GET", "/v1/edge/routes", old.Token, nil, &apiErr); code != http.StatusUnauthorized || apiErr.Hint == "" {
		t.Errorf("removed edge's token read routes: %d %+v", code, apiErr)
	}
	if code := h.call("GET", "/v1/edge/routes", kept.Token, nil, nil); code != 200 {
		t.Errorf("the other edge's token: %d", code)
	}
	var es []api.Edge
	h.call("GET", "/v1/edges", h.token, nil, &es)
	byID := map[string]api.Edge{}
	for _, e := range es {
		byID[e.ID] = e
	}
	if e := byID[old.ID]; e.RemovedAt == nil || !e.RemovedAt.Equal(removed.RemovedAt) {
		t.Errorf("removed edge listed as %+v, want removed at %s", e, removed.RemovedAt)
	}
	if e := byID[kept.ID]; e.ID == "" || e.RemovedAt != nil {
		t.Errorf("other edge listed as %+v", e)
	}
	var again api.RemovedEdge
	if code := h.call("DELETE", "/v1/edges/"+old.ID[:8], h.token, nil, &again); code != 200 || !again.RemovedAt.Equal(removed.RemovedAt) {
		t.Errorf("removing it again: %d %+v, want the first removal", code, again)
	}
	if e := h.findEntry(h.token, "edge.remove", 200); e.Object != old.ID {
		t.Errorf("audit entry names %q, want the edge", e.Object)
	}

	// The node learns the list from its desired state.
	h.eventually("node learns the revocation", func() bool { return revoked.Revoked(old.ID) })
	oldConn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(oldConn, "after"); err == nil {
		if _, err := oldBr.ReadString('\n'); err == nil {
			t.Error("the removed edge's open tunnel still carries traffic")
		}
	}
	if c, err := tryLineTunnel(addr, old.TunnelTLS); err == nil {
		c.Close()
		t.Error("the removed edge opened a new tunnel")
	}
	fmt.Fprintln(keptConn, "still")
	if got, err := keptBr.ReadString('\n'); err != nil || got != "still\n" {
		t.Errorf("the other edge's open tunnel: %q %v", got, err)
	}
	c, err := tryLineTunnel(addr, kept.TunnelTLS)
	if err != nil {
		t.Fatalf("the other edge's new tunnel: %v", err)
	}
	c.Close()
}

// nodeTunnel registers a node and serves its tunnel listener (instances
// answer each line with itself) with the revocations its desired state
// names, long-polled as the agent does.
func (h *harness) nodeTunnel(t *testing.T) (string, *tunnel.Revocations) {
	t.Helper()
	keyPEM, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "tunnel.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.CSR(keyPEM)
	var reg api.RegisterNodeResponse
	if code := h.call("POST", "/v1/nodes/register", h.srv.JoinToken(t, "node"), api.RegisterNodeRequest{
		Region: "eu", Hostname: "n1", TunnelAddr: "127.0.0.1:7443", Driver: "fake", CSR: string(csr),
	}, &reg); code != 200 {
		t.Fatalf("register node: %d", code)
	}
	cred, err := pki.LoadCredential([]byte(reg.Certificate), keyPEM, []byte(reg.CA))
	if err != nil {
		t.Fatal(err)
	}
	app := lineEcho(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	revoked := tunnel.NewRevocations()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		tunnel.ServeTLS(ctx, ln, pki.TunnelServer(cred), func(string) (string, bool) { return app, true },
			slog.New(slog.DiscardHandler), revoked)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		var version int64
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/nodes/%s/desired?after=%d", h.url, reg.NodeID, version), nil)
			req.Header.Set("Authorization", "Bearer "+reg.NodeToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(100 * time.Millisecond) // a retry's pause, as the agent's backoff
				continue
			}
			var ds api.DesiredState
			err = json.NewDecoder(resp.Body).Decode(&ds)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			version = ds.Version
			revoked.Set(ds.RevokedEdges)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return ln.Addr().String(), revoked
}

// lineEcho is an instance that answers each line with itself.
func lineEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// tryLineTunnel opens a tunnel with an edge's TLS and checks it carries
// a line.
func tryLineTunnel(addr string, edgeTLS *tls.Config) (*tls.Conn, error) {
	c, _, err := dialLineTunnel(addr, edgeTLS)
	return c, err
}

func openLineTunnel(t *testing.T, addr string, edgeTLS *tls.Config) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, br, err := dialLineTunnel(addr, edgeTLS)
	if err != nil {
		t.Fatalf("open tunnel: %v", err)
	}
	return c, br
}

func dialLineTunnel(addr string, edgeTLS *tls.Config) (*tls.Conn, *bufio.Reader, error) {
	conf := edgeTLS.Clone()
	conf.ServerName = "127.0.0.1"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	tunnel.WriteHeader(c, "i-1", tunnel.TLSToken)
	fmt.Fprintln(c, "ping")
	if got, err := br.ReadString('\n'); err != nil || got != "ping\n" {
		c.Close()
		return nil, nil, fmt.Errorf("through the tunnel: %q %v", got, err)
	}
	return c, br, nil
}
