package edgetls

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestACMEFlow is the real flow against Pebble: a routed host gets a
// certificate on its first handshake, and an HTTPS request through the
// edge reaches the app and verifies against Pebble's root; a second edge
// sharing the operator serves the same certificate without a second
// order; an unknown SNI gets no certificate and causes no order.
//
// Pebble validates for real, against the first edge's listeners: each
// challenge type in turn.
func TestACMEFlow(t *testing.T) {
	for _, chal := range []string{"http-01", "tls-alpn-01"} {
		t.Run(chal, func(t *testing.T) { testACMEFlow(t, chal) })
	}
}

func testACMEFlow(t *testing.T, chal string) {
	lnS, lnH := listen(t), listen(t)
	p := startPebble(t, port(lnH), port(lnS))
	srv, token := newOperator(t)
	// A host per challenge type: certmagic keeps a failed name's backoff
	// process-wide.
	host := chal + ".example.com"
	table := routedApp(t, host)
	addDomain(t, srv, "hello", host)
	acme := func(c *Config) {
		c.CA, c.Email, c.Roots, c.Challenges = p.dir, "ops@example.com", p.roots, []string{chal}
	}
	e1 := startTLSEdgeOn(t, lnS, lnH, srv, token, table, acme)

	resp, err := httpsClient(e1.httpsAddr, p.roots).Get("https://" + host + "/")
	if err != nil {
		t.Fatalf("HTTPS through the edge: %v\npebble:\n%s", err, p.log)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from the app over https" {
		t.Fatalf("got %s %q", resp.Status, body)
	}
	if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("proto %s, TLS %+v: want HTTP/2 over TLS 1.2+", resp.Proto, resp.TLS)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if n := p.orders(); n != 1 {
		t.Fatalf("pebble saw %d orders, want 1", n)
	}

	e2 := startTLSEdge(t, srv, token, table, acme)
	leaf2, err := handshake(e2.httpsAddr, host, p.roots)
	if err != nil {
		t.Fatalf("second edge: %v", err)
	}
	if !leaf2.Equal(leaf) {
		t.Fatalf("second edge serves serial %s, first %s: want the same certificate", leaf2.SerialNumber, leaf.SerialNumber)
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("pebble saw %d orders after the second edge, want still 1", n)
	}

	for _, name := range []string{"unknown.example.com", "www." + host} {
		if _, err := handshake(e1.httpsAddr, name, p.roots); err == nil {
			t.Fatalf("an unknown SNI %s got a certificate", name)
		}
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("unknown SNI caused an order: pebble saw %d, want 1", n)
	}

	if c := domainCert(t, srv, "hello", host); c.Status != api.CertIssued || c.ExpiresAt == nil || !c.ExpiresAt.Equal(leaf.NotAfter) {
		t.Fatalf("the domain's certificate: %+v, want issued until %v", c, leaf.NotAfter)
	}
}

// TestHTTPRedirect: plain HTTP gets a 308 to the same path and query on
// HTTPS; an ACME HTTP-01 challenge is answered before the redirect.
func TestHTTPRedirect(t *testing.T) {
	srv, token := newOperator(t)
	ca, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := startTLSEdge(t, srv, token, routedApp(t, "hello.localhost"), func(c *Config) { c.Issuer = ca; c.HSTS = 300 })
	c := httpsClient(e.httpAddr, nil)
	resp, err := c.Get("http://hello.localhost/a/b?x=1&y=%2F")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://hello.localhost:" + strings.Split(e.httpsAddr, ":")[1] + "/a/b?x=1&y=%2F"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("got %s Location %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
	resp, err = httpsClient(e.httpsAddr, ca.Pool()).Get("https://hello.localhost/")
	if err != nil {
		t.Fatalf("HTTPS with the local CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "max-age=300" {
		t.Fatalf("got %s, HSTS %q", resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
	// TLS 1.1 and older are refused.
	old := &tls.Config{ServerName: "hello.localhost", RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", e.httpsAddr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
}

// TestIssuanceFailureRecorded: when the CA cannot validate (its HTTP-01
// check goes to a closed port), the handshake fails at once (no retries
// held inside it), and the reason and the next attempt show on the domain
// in `zeitwork domains list`. The handshakes that follow, on that edge or
// on a second edge sharing the operator, order nothing until the next
// attempt: the first edge does not even start an attempt (no issuance
// lock), the second asks the operator once and then waits too.
func TestIssuanceFailureRecorded(t *testing.T) {
	closed := listen(t)
	p := startPebble(t, port(closed), port(closed))
	closed.Close()
	srv, token := newOperator(t)
	const host = "broken.example.com"
	addDomain(t, srv, "hello", host)
	table := routedApp(t, host)
	var stores []*countingStorage
	acme := func(c *Config) {
		c.CA, c.Email, c.Roots, c.Challenges = p.dir, "ops@example.com", p.roots, []string{"http-01"}
		cs := &countingStorage{Storage: newStorage(srv, token), name: host}
		c.Storage, stores = cs, append(stores, cs)
	}
	e := startTLSEdge(t, srv, token, table, acme)
	start := time.Now()
	if _, err := handshake(e.httpsAddr, host, p.roots); err == nil {
		t.Fatal("a name the CA could not validate got a certificate")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the failing handshake was held %v", d)
	}
	c := domainCert(t, srv, "hello", host)
	if c.Status != api.CertFailed || !strings.Contains(c.LastError, "acme-challenge") || c.NextAttemptAt == nil ||
		c.NextAttemptAt.Before(start.Add(50*time.Second)) || c.NextAttemptAt.After(time.Now().Add(61*time.Second)) {
		t.Fatalf("the domain's certificate: %+v, want failed with the CA's reason and a next attempt in 1 min", c)
	}
	out := zeitwork(t, srv, "domains", "list", "hello")
	for _, want := range []string{"CERT", "failed", "acme-challenge", "next try in"} {
		if !strings.Contains(out, want) {
			t.Fatalf("domains list: want %q in\n%s", want, out)
		}
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("pebble saw %d orders, want 1", n)
	}
	locks := stores[0].locks.Load()
	for range 3 {
		if _, err := handshake(e.httpsAddr, host, p.roots); err == nil {
			t.Fatal("a handshake during the backoff got a certificate")
		}
	}
	if n := stores[0].locks.Load(); n != locks {
		t.Fatalf("handshakes during the backoff started %d issuance attempts", n-locks)
	}

	e2 := startTLSEdge(t, srv, token, table, acme)
	for range 3 {
		if _, err := handshake(e2.httpsAddr, host, p.roots); err == nil {
			t.Fatal("a second edge got a certificate during the backoff")
		}
	}
	if n := stores[1].locks.Load(); n > 1 {
		t.Fatalf("the second edge started %d issuance attempts during the backoff, want at most 1", n)
	}
	if n := p.orders(); n != 1 {
		t.Fatalf("handshakes during the backoff ordered again: pebble saw %d orders, want 1", n)
	}
	if after := domainCert(t, srv, "hello", host); after.LastError != c.LastError || !after.NextAttemptAt.Equal(*c.NextAttemptAt) {
		t.Fatalf("a try refused by the backoff changed the record: %+v, was %+v", after, c)
	}
}
