package edgetls

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/edge"
)

// TestProxyHeaderBeforeTLS: the edge's guard stays under TLS, so a
// trusted load balancer's PROXY header comes first on the connection and
// names the client the app sees; the same header from an untrusted peer
// closes the connection before any handshake.
func TestProxyHeaderBeforeTLS(t *testing.T) {
	srv, token := newOperator(t)
	ca, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const host = "hello.localhost"
	table := routedApp(t, host)
	edgeTweak = func(c *edge.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} }
	trusted := startTLSEdge(t, srv, token, table, func(c *Config) { c.Issuer = ca })
	edgeTweak = func(c *edge.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")} }
	untrusted := startTLSEdge(t, srv, token, table, func(c *Config) { c.Issuer = ca })
	edgeTweak = nil

	got, err := viaProxy(trusted.httpsAddr, host, ca)
	if err != nil || got != "198.51.100.7" {
		t.Fatalf("client seen by the app: %q, %v; want the PROXY header's 198.51.100.7", got, err)
	}
	if got, err := viaProxy(untrusted.httpsAddr, host, ca); err == nil {
		t.Fatalf("an untrusted peer's PROXY header was accepted: the app saw %q", got)
	}
}

// viaProxy sends a PROXY v1 header, then GET /client over TLS.
func viaProxy(addr, host string, ca *LocalCA) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "PROXY TCP4 198.51.100.7 127.0.0.1 40000 443\r\n"); err != nil {
		return "", err
	}
	tc := tls.Client(c, &tls.Config{ServerName: host, RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	req, _ := http.NewRequest("GET", "https://"+host+"/client", nil)
	if err := req.Write(tc); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}
