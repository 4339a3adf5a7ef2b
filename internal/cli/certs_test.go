package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestCerts: `zeitwork certs` says what to do for a project with no hosts
// yet, prints [] with --json, and names an unknown project.
func TestCerts(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")
	if out := mustRun(t, "certs", "web"); !strings.Contains(out, "deploy it first") {
		t.Fatalf("no hosts: %s", out)
	}
	if out := mustRun(t, "certs", "web", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("--json: %s", out)
	}
	if _, err := run(t, "certs", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown project: %v", err)
	}
}

func TestCertsTable(t *testing.T) {
	at := time.Now().Add(-3 * time.Minute)
	expires := time.Date(2027, 2, 27, 10, 0, 0, 0, time.UTC)
	next := time.Now().Add(5*time.Minute + 30*time.Second)
	var b strings.Builder
	certsTable(&b, []api.HostCertificate{
		{Host: "web.apps.test", State: "issued", IssuedAt: &at, ExpiresAt: &expires},
		{Host: "x--web.apps.test", State: "failed", LastErrorAt: &at, LastError: "authorization failed", NextAttemptAt: &next},
		{Host: "y--web.apps.test", State: "none"},
	})
	for _, want := range []string{"HOST", "EXPIRES", "LAST ERROR", "issued  3m ago  2027-02-27",
		"failed  -       -           3m ago  authorization failed; next try in 5m", "none"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("want %q in\n%s", want, b.String())
		}
	}
}
