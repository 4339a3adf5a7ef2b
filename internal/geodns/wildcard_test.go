package geodns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/zeitwork/zeitwork/internal/acmedns"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/geodns"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestWildcardCertificate: an edge's certmagic, with the acmedns provider,
// gets a certificate for *.apps.test from Pebble (the ACME test server,
// Debian package pebble), whose validation authority asks our DNS server
// for the DNS-01 TXT record; the value is gone afterwards.
func TestWildcardCertificate(t *testing.T) {
	op := operatortest.Start(t)
	edge, err := operator.CreateEdgeToken(context.Background(), op.Store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *geodns.Config) {
		c.OperatorURL = op.URL
		c.ChallengeRefresh = geodns.Duration(100 * time.Millisecond)
	})
	dir, roots := startPebble(t, s.addr)

	storage := &certmagic.FileStorage{Path: t.TempDir()}
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil }})
	t.Cleanup(cache.Stop)
	cfg = certmagic.New(cache, certmagic.Config{Storage: storage})
	issuer := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA: dir, TestCA: dir, Email: "ops@apps.test", Agreed: true, TrustedRoots: roots,
		DisableHTTPChallenge: true, DisableTLSALPNChallenge: true,
		DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: &acmedns.Provider{OperatorURL: op.URL, Token: edge},
			Resolvers:   []string{s.addr}, PropagationTimeout: 30 * time.Second,
		}},
	})
	cfg.Issuers = []certmagic.Issuer{issuer}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cfg.ObtainCertSync(ctx, "*.apps.test"); err != nil {
		t.Fatalf("obtain *.apps.test: %v", err)
	}
	pemBytes, err := storage.Load(ctx, certmagic.StorageKeys.SiteCert(issuer.IssuerKey(), "*.apps.test"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !slices.Contains(cert.DNSNames, "*.apps.test") {
		t.Fatalf("certificate for %v (%v), want *.apps.test", cert.DNSNames, err)
	}
	var left []api.ACMEChallenge
	resp, err := http.Get(op.URL + "/v1/dns/acme-challenges")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&left)
	resp.Body.Close()
	if len(left) != 0 {
		t.Fatalf("challenges left after issuance: %v", left)
	}
}

// startPebble runs Pebble on loopback with dnsServer as its resolver until
// the test ends, and returns its directory URL and the roots to trust
// for it.
func startPebble(t *testing.T, dnsServer string) (string, *x509.CertPool) {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Fatal("pebble is not installed: run ./scripts/install-deps.sh (Debian package pebble)")
	}
	tmp := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, tmp)
	port, mport := freePort(t), freePort(t)
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + port, "managementListenAddress": "127.0.0.1:" + mport,
		"certificate": certFile, "privateKey": keyFile, "httpPort": 5002, "tlsPort": 5001,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	confFile := filepath.Join(tmp, "pebble.json")
	os.WriteFile(confFile, conf, 0o600)
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dnsServer)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logFile, _ := os.Create(filepath.Join(tmp, "pebble.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("pebble's log:\n%s", b)
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	dir := "https://127.0.0.1:" + port + "/dir"
	poll(t, client, dir)
	return dir, pool
}

// poll GETs url until it answers 200, within a deadline.
func poll(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// selfSigned makes a certificate for Pebble's listener on 127.0.0.1.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
