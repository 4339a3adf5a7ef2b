package cli

import (
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startHTTPSOperator serves a test operator over HTTPS with a certificate
// of a test CA the system does not trust, and returns its URL, an admin
// token and the CA's PEM file.
func startHTTPSOperator(t *testing.T) (apiURL, token, caFile string) {
	t.Helper()
	plain, token := startOperator(t)
	u, _ := url.Parse(plain)
	ts := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(ts.Close)
	caFile = filepath.Join(t.TempDir(), "root.pem")
	// httptest's certificate is its own CA (self-signed, CA:true).
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ts.URL, token, caFile
}

// Over HTTPS with a private CA, the CLI fails without --ca-file, saying
// what to do, and works with it, its env var, or the file kept by login.
func TestCAFileTrustsPrivateCA(t *testing.T) {
	apiURL, token, caFile := startHTTPSOperator(t)
	t.Setenv("ZEITWORK_CA_FILE", "")

	_, err := run(t, "login", "--api", apiURL, "--token", token)
	if err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("login to a private CA's operator without --ca-file: %v, want an error naming --ca-file", err)
	}
	mustRun(t, "login", "--api", apiURL, "--token", token, "--ca-file", caFile)
	mustRun(t, "projects", "list")
	b, err := os.ReadFile(ConfigPath())
	if err != nil || !strings.Contains(string(b), `"ca_file": "`+caFile+`"`) {
		t.Fatalf("login kept no ca_file: %v %s", err, b)
	}

	// Without the kept file, the flag and the env var each do.
	os.WriteFile(ConfigPath(), []byte(`{"api_url": "`+apiURL+`", "token": "`+token+`"}`), 0o600)
	if _, err := run(t, "projects", "list"); err == nil || !strings.Contains(err.Error(), "cannot trust the operator") {
		t.Fatalf("no CA: %v", err)
	}
	mustRun(t, "projects", "list", "--ca-file", caFile)
	t.Setenv("ZEITWORK_CA_FILE", caFile)
	mustRun(t, "projects", "list")
	t.Setenv("ZEITWORK_CA_FILE", "")

	// Unreadable and invalid files are named as such.
	if _, err := run(t, "projects", "list", "--ca-file", filepath.Join(t.TempDir(), "missing.pem")); err == nil ||
		!strings.Contains(err.Error(), "read CA file") {
		t.Errorf("missing CA file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := run(t, "projects", "list", "--ca-file", bad); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("invalid CA file: %v", err)
	}
}
