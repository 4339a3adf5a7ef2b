package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadOrCreateKey returns the host's private key (PEM) kept at path,
// making one the first time. The key never leaves the host: the operator
// only sees certificate requests signed with it.
func LoadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read host key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new host key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("new host key: %w", err)
	}
	b := pemBlock("PRIVATE KEY", der)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("write host key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write host key: %w", err)
	}
	return b, nil
}

// CSR is a certificate request for keyPEM's public key.
func CSR(keyPEM []byte) ([]byte, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("csr: host key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return pemBlock("CERTIFICATE REQUEST", der), nil
}

// Pool is a certificate pool holding the CA of caPEM.
func Pool(caPEM []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in PEM")
	}
	return p, nil
}

// Credential is a host's certificate and key, and the CA it trusts.
type Credential struct {
	Cert tls.Certificate
	Pool *x509.CertPool
}

// LoadCredential parses a host's certificate, key and CA (all PEM).
func LoadCredential(certPEM, keyPEM, caPEM []byte) (*Credential, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("host certificate: %w", err)
	}
	pool, err := Pool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("host certificate: %w", err)
	}
	return &Credential{Cert: cert, Pool: pool}, nil
}
