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

// testCA is a cluster CA and credentials it issued.
type testCA struct {
	ca   *pki.CA
	pool []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, _, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca, pool: ca.PEM}
}

// credential issues a certificate of role to a fresh key.
func (c *testCA) credential(t *testing.T, role string, hosts ...string) *pki.Credential {
	t.Helper()
	key, cert, err := c.ca.Issue(pki.Request{Role: role, ID: role + "-1", Hosts: hosts, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.LoadCredential(cert, key, c.pool)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// startTLSTunnel runs ServeTLS with a node certificate of ca.
func startTLSTunnel(t *testing.T, ca *testCA, routes map[string]string) (string, *logBuf) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeTLS(ctx, ln, pki.TunnelServer(ca.credential(t, pki.RoleNode, "127.0.0.1")), func(inst string) (string, bool) {
			a, ok := routes[inst]
			return a, ok
		}, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String(), logs
}

// roundTrip opens a tunnel with conf, sends "hello" and returns the answer.
func roundTrip(addr string, conf *tls.Config) (string, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, conf)
	if err := c.Handshake(); err != nil {
		return "", err
	}
	if err := WriteHeader(c, "inst-1", TLSToken); err != nil {
		return "", err
	}
	io.WriteString(c, "hello")
	c.CloseWrite()
	b, err := io.ReadAll(bufio.NewReader(c))
	return string(b), err
}

// TestServeTLSNeedsAnEdgeCertificateOfTheCA: the tunnel carries traffic
// for an edge certificate of the cluster's CA only; no certificate, one
// of another CA and a node's certificate are refused.
func TestServeTLSNeedsAnEdgeCertificateOfTheCA(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	addr, logs := startTLSTunnel(t, ca, map[string]string{"inst-1": startApp(t)})
	client := func(cred *pki.Credential) *tls.Config {
		conf := pki.TunnelClient(cred)
		conf.ServerName = "127.0.0.1"
		return conf
	}
	if got, err := roundTrip(addr, client(ca.credential(t, pki.RoleEdge))); err != nil || got != "HELLO" {
		t.Fatalf("edge certificate of the CA: %q %v", got, err)
	}
	noCert := client(ca.credential(t, pki.RoleEdge))
	noCert.Certificates = nil
	foreign := client(other.credential(t, pki.RoleEdge))
	foreign.RootCAs = client(ca.credential(t, pki.RoleEdge)).RootCAs // trusts the node, is not trusted
	nodeCert := client(ca.credential(t, pki.RoleNode, "127.0.0.1"))
	for name, conf := range map[string]*tls.Config{"no certificate": noCert, "another CA": foreign, "a node's certificate": nodeCert} {
		if got, err := roundTrip(addr, conf); err == nil || got != "" {
			t.Errorf("%s: tunnel carried traffic: %q %v", name, got, err)
		}
	}
	// A plain-TCP client with a header never reaches an instance.
	c := dialTunnel(t, addr)
	WriteHeader(c, "inst-1", TLSToken)
	io.WriteString(c, "hello")
	c.CloseWrite()
	if b, _ := io.ReadAll(c); strings.Contains(string(b), "HELLO") {
		t.Error("plain connection reached the instance")
	}
	if !strings.Contains(logs.String(), "tls") {
		t.Errorf("refusals not logged: %s", logs)
	}
}

// TestTunnelClientChecksTheNode: an edge refuses a node certificate of
// another CA, one for another address, and an edge's certificate.
func TestTunnelClientChecksTheNode(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	edge := ca.credential(t, pki.RoleEdge)
	for name, server := range map[string]*pki.Credential{
		"another CA":      other.credential(t, pki.RoleNode, "127.0.0.1"),
		"another address": ca.credential(t, pki.RoleNode, "10.9.9.9"),
		"not a node":      ca.credential(t, pki.RoleOperator, "127.0.0.1"),
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conf := pki.TunnelServer(server)
		conf.ClientCAs = nil
		conf.ClientAuth = tls.RequestClientCert
		conf.VerifyConnection = nil
		go func() {
			c, err := ln.Accept()
			if err == nil {
				tls.Server(c, conf).Handshake()
				c.Close()
			}
		}()
		client := pki.TunnelClient(edge)
		client.ServerName = "127.0.0.1"
		_, err = roundTrip(ln.Addr().String(), client)
		ln.Close()
		if err == nil {
			t.Errorf("%s: edge accepted the node", name)
		}
	}
}

func TestServeTLSRequiresClientCertificates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ServeTLS(context.Background(), ln, &tls.Config{}, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("ServeTLS without client certificates")
	}
}
