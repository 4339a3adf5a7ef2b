package edgetls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/certmagic"
)

// countingCA is the local CA, counting what it is asked to sign and
// failing the test on any name but the allowed one.
type countingCA struct {
	*LocalCA
	allowed string
	issued  atomic.Int32
	bad     atomic.Value // a name it was asked for that is not allowed
}

func (ca *countingCA) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	ca.issued.Add(1)
	for _, n := range csr.DNSNames {
		if n != ca.allowed {
			ca.bad.Store(n)
		}
	}
	return ca.LocalCA.Issue(ctx, csr)
}

// FuzzSNI: whatever the SNI of a ClientHello (case, dots, IDNs, bytes
// that are no name, the TLS-ALPN-01 protocol alone), the edge issues for
// the routed name only, at most once, serves a certificate only for it,
// and does not panic.
func FuzzSNI(f *testing.F) {
	for _, s := range []string{"app.example.com", "APP.Example.COM", "app.example.com.", " app.example.com", "",
		"*.example.com", "x.app.example.com", "app.example.com\x00", "xn--app-example.com", "äpp.example.com",
		"127.0.0.1", "[::1]", "app.example.com:443", "a..b", "app.example.com/../x", "\xff\xfe"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	const allowed = "app.example.com"
	local, err := LoadOrCreateLocalCA(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	ca := &countingCA{LocalCA: local, allowed: allowed}
	m, err := New(Config{
		Storage: &certmagic.FileStorage{Path: f.TempDir()},
		Allowed: func(h string) bool { return h == allowed },
		Issuer:  ca, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Stop)
	cfg := m.TLSConfig()
	conn, peer := net.Pipe()
	f.Cleanup(func() { conn.Close(); peer.Close() })
	f.Fuzz(func(t *testing.T, sni string, alpn bool) {
		hello := &tls.ClientHelloInfo{ServerName: sni, Conn: conn, SupportedVersions: []uint16{tls.VersionTLS13}}
		if alpn {
			hello.SupportedProtos = []string{"acme-tls/1"}
		}
		cert, err := cfg.GetCertificate(hello)
		if bad := ca.bad.Load(); bad != nil {
			t.Fatalf("SNI %q: issued for %q", sni, bad)
		}
		if n := ca.issued.Load(); n > 1 {
			t.Fatalf("SNI %q: %d issuances, want at most 1", sni, n)
		}
		if err != nil || cert == nil || len(cert.Certificate) == 0 {
			return
		}
		leaf, perr := x509.ParseCertificate(cert.Certificate[0])
		if perr != nil {
			t.Fatalf("SNI %q: served an unparsable certificate: %v", sni, perr)
		}
		if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != allowed {
			t.Fatalf("SNI %q: served a certificate for %v", sni, leaf.DNSNames)
		}
	})
}
