package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/pki"
)

// edgeClient is an edge's tunnel TLS with a certificate of ca for id.
func (c *testCA) edgeClient(t *testing.T, id string) *tls.Config {
	t.Helper()
	key, cert, err := c.ca.Issue(pki.Request{Role: pki.RoleEdge, ID: id, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.LoadCredential(cert, key, c.pool)
	if err != nil {
		t.Fatal(err)
	}
	conf := pki.TunnelClient(cred)
	conf.ServerName = "127.0.0.1"
	return conf
}

// startEchoApp answers each line with itself, so that a tunnel stays open
// across round trips.
func startEchoApp(t *testing.T) string {
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
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// openTunnel opens a tunnel to inst-1 and checks it carries a line.
func openTunnel(addr string, conf *tls.Config) (*tls.Conn, *bufio.Reader, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := WriteHeader(c, "inst-1", TLSToken); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	if err := echoLine(c, br, "ping"); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, br, nil
}

func echoLine(c net.Conn, br *bufio.Reader, line string) error {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// TestServeTLSRefusesRevokedEdges: once the listener's revocations name
// an edge, its certificate (of the cluster's CA, unexpired) is refused
// and its open tunnel is closed, while another edge keeps working, in
// its open tunnel and in new ones.
func TestServeTLSRefusesRevokedEdges(t *testing.T) {
	ca := newTestCA(t)
	app := startEchoApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	revoked := NewRevocations()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeTLS(ctx, ln, pki.TunnelServer(ca.credential(t, pki.RoleNode, "127.0.0.1")),
			func(string) (string, bool) { return app, true }, slog.New(slog.NewTextHandler(logs, nil)), revoked)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	addr := ln.Addr().String()
	stolen, kept := ca.edgeClient(t, "edge-stolen"), ca.edgeClient(t, "edge-kept")

	stolenConn, stolenBr, err := openTunnel(addr, stolen)
	if err != nil {
		t.Fatalf("edge before its revocation: %v", err)
	}
	defer stolenConn.Close()
	keptConn, keptBr, err := openTunnel(addr, kept)
	if err != nil {
		t.Fatalf("other edge: %v", err)
	}
	defer keptConn.Close()

	if !revoked.Set([]string{"edge-stolen"}) {
		t.Fatal("Set reported no change")
	}
	// The open tunnel of the revoked edge ends: its next read sees the
	// close (EOF or reset), not an answer.
	if err := echoLine(stolenConn, stolenBr, "after"); err == nil {
		t.Error("the revoked edge's open tunnel still carries traffic")
	}
	if _, _, err := openTunnel(addr, stolen); err == nil {
		t.Error("the revoked edge opened a new tunnel")
	}
	if err := echoLine(keptConn, keptBr, "still"); err != nil {
		t.Errorf("the other edge's open tunnel: %v", err)
	}
	c, _, err := openTunnel(addr, kept)
	if err != nil {
		t.Fatalf("the other edge's new tunnel: %v", err)
	}
	c.Close()
	if !strings.Contains(logs.String(), "revoked") {
		t.Errorf("refusal not logged: %s", logs)
	}

	// Setting the same list again changes nothing; an empty one lets the
	// edge in again (the operator forgets it once its certificate expired).
	if revoked.Set([]string{"edge-stolen"}) {
		t.Error("Set reported a change for the same list")
	}
	revoked.Set(nil)
	c, _, err = openTunnel(addr, stolen)
	if err != nil {
		t.Fatalf("edge after its revocation was lifted: %v", err)
	}
	c.Close()
}
