package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestProjectsUpdateHTTPS: `projects update --hsts
// --no-https-redirect-versioned` sets the settings and prints them; an
// out-of-range max-age says what range to use; --https-redirect-versioned
// turns the redirect back on.
func TestProjectsUpdateHTTPS(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")

	out := mustRun(t, "projects", "update", "web", "--hsts", "31536000", "--no-https-redirect-versioned")
	for _, want := range []string{"HSTS", "max-age=31536000", "served over HTTP too"} {
		if !strings.Contains(out, want) {
			t.Fatalf("update: want %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "rate limit") || strings.Contains(out, "GitHub") {
		t.Fatalf("an HTTPS-only update printed other settings:\n%s", out)
	}
	out = mustRun(t, "projects", "update", "web", "--https-redirect-versioned", "--json")
	var p api.Project
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.HSTSMaxAge != 31536000 || !p.HTTPSRedirectVersioned {
		t.Fatalf("after turning the redirect back on: %v\n%s", err, out)
	}
	if _, err := run(t, "projects", "update", "web", "--hsts", "99999999"); err == nil || !strings.Contains(err.Error(), "63072000") {
		t.Fatalf("max-age over two years: %v", err)
	}
	if _, err := run(t, "projects", "update", "web", "--https-redirect-versioned", "--no-https-redirect-versioned"); err == nil ||
		!strings.Contains(err.Error(), "contradict") {
		t.Fatalf("both redirect flags: %v", err)
	}
}
