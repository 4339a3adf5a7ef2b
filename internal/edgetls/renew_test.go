package edgetls

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/zeitwork/zeitwork/internal/api"
)

// crossingCA is the local CA with a clock trick: a name's first leaf
// enters certmagic's renewal window a few seconds after it is issued
// (it expires in 5 maintenance intervals and 4 s, when certmagic renews
// whatever expires within 5 intervals), its later leaves last a week. It
// counts the leaves it signs per name.
type crossingCA struct {
	*LocalCA
	mu     sync.Mutex
	issued map[string]int
}

func (ca *crossingCA) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	name := firstName(csr)
	ca.mu.Lock()
	ca.issued[name]++
	first := ca.issued[name] == 1
	ca.mu.Unlock()
	now := time.Now()
	notAfter := now.Add(leafLifetime)
	if first {
		notAfter = now.Add(5*certmagic.DefaultRenewCheckInterval + 4*time.Second)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name}, DNSNames: csr.DNSNames,
		NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	return &certmagic.IssuedCertificate{Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (ca *crossingCA) count(name string) int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.issued[name]
}

// TestRenewalAheadOfExpiry: a certificate that enters its renewal window
// is renewed while still valid (handshakes keep being served, the next
// ones get the new certificate), once, and the new expiry shows on the
// domain. A host removed from the route table stops being routed at once
// and is not renewed: its certificate is dropped instead.
func TestRenewalAheadOfExpiry(t *testing.T) {
	srv, token := newOperator(t)
	local, err := LoadOrCreateLocalCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := &crossingCA{LocalCA: local, issued: map[string]int{}}
	const kept, gone = "renew.example.com", "gone.example.com"
	addDomain(t, srv, "hello", kept)
	table := routedApp(t, kept)
	both := table
	both.Routes = append([]api.Route{}, table.Routes...)
	goneRoute := table.Routes[0]
	goneRoute.Host = gone
	both.Routes = append(both.Routes, goneRoute)
	e := startTLSEdge(t, srv, token, both, func(c *Config) { c.Issuer = ca })

	first := map[string]*x509.Certificate{}
	for _, h := range []string{kept, gone} {
		leaf, err := handshake(e.httpsAddr, h, local.Pool())
		if err != nil {
			t.Fatalf("first handshake for %s: %v", h, err)
		}
		first[h] = leaf
	}
	both.Version++
	table.Version = both.Version
	e.src.Set(table) // gone is removed
	if code := statusOf(t, e.httpsAddr, gone, local); code != 404 {
		t.Fatalf("a removed host answered %d, want 404 at once", code)
	}

	inWindow := first[kept].NotAfter.Add(-5 * certmagic.DefaultRenewCheckInterval)
	var renewed *x509.Certificate
	for deadline := time.Now().Add(60 * time.Second); renewed == nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal: %d leaves signed for %s", ca.count(kept), kept)
		}
		leaf, err := handshake(e.httpsAddr, kept, local.Pool())
		if err != nil {
			t.Fatalf("a handshake during the renewal failed: %v", err)
		}
		if !leaf.Equal(first[kept]) {
			renewed = leaf
		}
	}
	if now := time.Now(); now.Before(inWindow) || !now.Before(first[kept].NotAfter) {
		t.Fatalf("renewed at %v: want inside the renewal window from %v, ahead of expiry at %v", now, inWindow, first[kept].NotAfter)
	}
	if n := ca.count(kept); n != 2 {
		t.Fatalf("%d leaves signed for %s, want 2 (one renewal)", n, kept)
	}
	if c := domainCert(t, srv, "hello", kept); c.Status != api.CertIssued || c.ExpiresAt == nil || !c.ExpiresAt.Equal(renewed.NotAfter) {
		t.Fatalf("the domain's certificate after renewal: %+v, want issued until %v", c, renewed.NotAfter)
	}

	// The removed host's certificate is in its window too by now: the
	// handshake that finds it so drops it rather than renewing it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := handshake(e.httpsAddr, gone, local.Pool()); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed host's certificate is still served past its renewal window")
		}
	}
	if n := ca.count(gone); n != 1 {
		t.Fatalf("the removed host was renewed: %d leaves signed, want 1", n)
	}
}

// statusOf GETs https://host/ through addr and returns the status.
func statusOf(t *testing.T, addr, host string, ca *LocalCA) int {
	t.Helper()
	resp, err := httpsClient(addr, ca.Pool()).Get(fmt.Sprintf("https://%s/", host))
	if err != nil {
		t.Fatalf("GET %s: %v", host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
