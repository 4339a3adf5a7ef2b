package edgetls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pebble is Pebble (Debian package pebble), the ACME test server, run by
// the test on loopback. Its validation authority resolves every name to
// 127.0.0.1 through pebble-challtestsrv's DNS server (same package) and
// checks HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort there: the edge's
// own listeners answer them.
type pebble struct {
	dir   string         // ACME directory URL
	roots *x509.CertPool // Pebble's issuing root, from its management API
	log   *syncBuffer
}

// startPebble runs Pebble until the test ends.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Fatal("pebble is not installed: run ./scripts/install-deps.sh (Debian package pebble)")
	}
	dns := startDNS(t)
	tmp := t.TempDir()
	certFile, keyFile, tlsPool := writeServerCert(t, tmp)
	port, mport := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + port, "managementListenAddress": "127.0.0.1:" + mport,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	cfgFile := filepath.Join(tmp, "pebble.json")
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebble{dir: "https://127.0.0.1:" + port + "/dir", log: &syncBuffer{}}
	run(t, p.log, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")(bin, "-config", cfgFile, "-dnsserver", dns)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsPool}}}
	pollGet(t, client, p.dir)
	root := pollGet(t, client, "https://127.0.0.1:"+mport+"/roots/0")
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root is not PEM: %q", root)
	}
	// The directory is Pebble's TLS listener, with our own certificate.
	p.roots.AppendCertsFromPEM(mustRead(t, certFile))
	return p
}

// startDNS runs pebble-challtestsrv as a DNS server alone, answering
// every A query with 127.0.0.1 and no AAAA, and returns its address.
func startDNS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("pebble-challtestsrv")
	if err != nil {
		t.Fatal("pebble-challtestsrv is not installed: run ./scripts/install-deps.sh (Debian package pebble)")
	}
	addr := "127.0.0.1:" + freePort(t)
	log := &syncBuffer{}
	run(t, log)(bin, "-dns01", addr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:"+freePort(t))
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(log.String(), "Starting challenge servers"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pebble-challtestsrv did not start:\n%s", log)
		}
	}
	return addr
}

// run returns a function that starts a command with env added, its
// output in log, until the test ends.
func run(t *testing.T, log io.Writer, env ...string) func(bin string, args ...string) {
	return func(bin string, args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
}

// orders counts the ACME orders Pebble received.
func (p *pebble) orders() int { return strings.Count(p.log.String(), "Added order") }

// writeServerCert makes a self-signed certificate for Pebble's listeners.
func writeServerCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
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

// pollGet GETs url until it answers 200, within a deadline.
func pollGet(t *testing.T, c *http.Client, url string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return body
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
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
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func mustRead(t *testing.T, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
