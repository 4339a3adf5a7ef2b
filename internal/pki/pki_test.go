package pki

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignDecidesNamesAndUsage: the CA certifies the CSR's key for the
// role and names the operator gives, with the key usage of the role.
func TestSignDecidesNamesAndUsage(t *testing.T) {
	ca, keyDER, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(ca.PEM, keyDER)
	if err != nil || again.Pin() != ca.Pin() {
		t.Fatalf("load ca: %v", err)
	}
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CSR(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role  string
		usage x509.ExtKeyUsage
	}{{RoleNode, x509.ExtKeyUsageServerAuth}, {RoleEdge, x509.ExtKeyUsageClientAuth}} {
		certPEM, err := ca.Sign(csr, Request{Role: c.role, ID: "abc", Hosts: []string{"10.0.0.5", "n.example"}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := ParseCert(certPEM)
		role, id, ok := RoleOf(cert)
		if !ok || role != c.role || id != "abc" || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != c.usage {
			t.Errorf("%s certificate: %s %s %v %v", c.role, role, id, ok, cert.ExtKeyUsage)
		}
		if _, err := LoadCredential(certPEM, key, ca.PEM); err != nil {
			t.Errorf("%s credential: %v", c.role, err)
		}
	}
	if _, err := ca.Sign([]byte("not a csr"), Request{Role: RoleNode, TTL: time.Hour}); err == nil {
		t.Error("signed garbage")
	}
	if _, err := ca.Sign(csr, Request{Role: "admin", TTL: time.Hour}); err == nil {
		t.Error("signed an unknown role")
	}
}

func TestTokenPin(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	for tok, want := range map[string]bool{"zwj_x." + pin: true, "zwj_x": false, "zwj_x.abc": false, "zwj_x." + strings.Repeat("zz", 32): false} {
		if got, ok := TokenPin(tok); ok != want || (ok && got != pin) {
			t.Errorf("TokenPin(%q) = %q %v", tok, got, ok)
		}
	}
	if _, err := PinnedOperatorClient("zwj_nopin"); err == nil {
		t.Error("pinned client without a pin")
	}
}
