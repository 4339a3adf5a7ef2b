package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Roles a certificate is issued for.
const (
	RoleNode     = "node"
	RoleEdge     = "edge"
	RoleOperator = "operator"
)

// CA signs the certificates of the cluster's hosts.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	// PEM is the CA certificate, what hosts trust.
	PEM []byte
}

// NewCA makes a CA valid for ten years and returns it with its key in
// PKCS#8 DER (to be sealed by the caller).
func NewCA(name string) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	ca, err := LoadCA(pemBlock("CERTIFICATE", der), keyDER)
	return ca, keyDER, err
}

// LoadCA reads a CA from its certificate (PEM) and key (PKCS#8 DER).
func LoadCA(certPEM, keyDER []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("load ca key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("load ca: not a CA certificate and key")
	}
	return &CA{cert: cert, key: signer, PEM: certPEM}, nil
}

// Pin is the CA certificate's SHA-256, in hex: what a join token carries.
func (c *CA) Pin() string { return PinOf(c.cert) }

// PinOf is a certificate's SHA-256, in hex.
func PinOf(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(h[:])
}

// Request is what a host asks to be certified as.
type Request struct {
	Role string
	// ID names the host in its certificate's URI (zeitwork://<role>/<id>).
	ID string
	// Hosts are the names and addresses a server certificate is valid for.
	Hosts []string
	TTL   time.Duration
}

// Sign certifies the public key of csrPEM (whose signature proves the
// host holds the private key) for the request; the CSR's names are
// ignored, the operator decides them.
func (c *CA) Sign(csrPEM []byte, req Request) ([]byte, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("sign: csr is not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign: csr signature: %w", err)
	}
	return c.issue(csr.PublicKey, req)
}

func (c *CA) issue(pub crypto.PublicKey, req Request) ([]byte, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.Role + " " + req.ID},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(req.TTL),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		URIs:         []*url.URL{{Scheme: "zeitwork", Host: req.Role, Path: "/" + req.ID}},
	}
	switch req.Role {
	case RoleNode, RoleOperator:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range req.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else if h != "" {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	case RoleEdge:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("sign: unknown role %q", req.Role)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return pemBlock("CERTIFICATE", der), nil
}

// RoleOf reads the role and id from a certificate this package issued.
func RoleOf(cert *x509.Certificate) (role, id string, ok bool) {
	for _, u := range cert.URIs {
		if u.Scheme == "zeitwork" && len(u.Path) > 1 {
			return u.Host, u.Path[1:], true
		}
	}
	return "", "", false
}

// ParseCert reads the first certificate of a PEM text.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Issue makes a key pair and its certificate, for the operator's own
// server certificate (the operator's key is made where it is used, too).
func (c *CA) Issue(req Request) (keyPEM, certPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	certPEM, err = c.issue(key.Public(), req)
	return pemBlock("PRIVATE KEY", der), certPEM, err
}
