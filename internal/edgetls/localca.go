package edgetls

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"
)

// LocalCA is a certificate authority of this machine for `zeitwork up`:
// a root kept under the state directory that signs short-lived leaf
// certificates for the routed hosts, without any ACME server. Browsers
// and curl trust it once its root is added (docs/operations.md).
type LocalCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	RootPEM []byte
	// RootFile is where the root certificate is, to trust it.
	RootFile string
}

const (
	localRootName = "root.pem"
	localKeyName  = "root-key.pem"
	leafLifetime  = 7 * 24 * time.Hour
)

// LoadOrCreateLocalCA reads the CA from dir, or makes one there (the key
// readable by its owner only).
func LoadOrCreateLocalCA(dir string) (*LocalCA, error) {
	certFile, keyFile := filepath.Join(dir, localRootName), filepath.Join(dir, localKeyName)
	certPEM, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createLocalCA(dir, certFile, keyFile); err != nil {
			return nil, err
		}
		certPEM, err = os.ReadFile(certFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read local CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read local CA key: %w", err)
	}
	return parseLocalCA(certPEM, keyPEM, certFile)
}

func parseLocalCA(certPEM, keyPEM []byte, certFile string) (*LocalCA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("local CA in %s is not PEM: remove it to make a new one", filepath.Dir(certFile))
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse local CA: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse local CA key: %w", err)
	}
	return &LocalCA{cert: cert, key: key, RootPEM: certPEM, RootFile: certFile}, nil
}

func createLocalCA(dir, certFile, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create local CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("create local CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Zeitwork local CA " + now.UTC().Format("2006-01-02"), Organization: []string{"Zeitwork (zeitwork up)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create local CA: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("create local CA: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("write local CA key: %w", err)
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Issue signs csr for a week (certmagic renews well before).
func (ca *LocalCA) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("local CA: bad CSR: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: firstName(csr)},
		DNSNames:     csr.DNSNames, IPAddresses: csr.IPAddresses,
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(leafLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign: %w", err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.RootPEM...)
	return &certmagic.IssuedCertificate{Certificate: chain}, nil
}

// IssuerKey names the CA's certificates in storage.
func (ca *LocalCA) IssuerKey() string { return "zeitwork-local-ca" }

// Pool is a cert pool with the root alone, for clients and tests.
func (ca *LocalCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func firstName(csr *x509.CertificateRequest) string {
	if len(csr.DNSNames) > 0 {
		return csr.DNSNames[0]
	}
	return csr.Subject.CommonName
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

var _ certmagic.Issuer = (*LocalCA)(nil)
