package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/cli"
)

// TestDNSCheck: `zeitwork dns --check` accepts a good configuration and
// refuses a bad one with what is wrong and where to read the format.
func TestDNSCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"zone": "apps.example.com", "nameservers": [{"name": "ns1.example.net"}],
		"regions": [{"name": "eu", "latitude": 50, "longitude": 8, "load_balancers": ["198.51.100.10"]}]}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"zone": "apps.example.com", "nameservers": [{"name": "ns1.example.net"}], "regions": []}`), 0o644)

	cmd := dnsCmd()
	cmd.SetArgs([]string{"--config", good, "--check"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil || out.String() != "configuration is valid\n" {
		t.Fatalf("good configuration: %v, %q", err, out.String())
	}
	cmd = dnsCmd()
	cmd.SetArgs([]string{"--config", bad, "--check"})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	var ue *cli.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "regions: give at least one") || !strings.Contains(ue.Hint, "docs/operations.md") {
		t.Fatalf("bad configuration: %v, want a user error naming regions with a hint", err)
	}
}
