package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestProjectsUpdateRateLimits: `projects update --rate-limit/--burst
// --client-rate-limit` sets the limits and prints them; a bad rate says
// how to write one; "off" removes a limit.
func TestProjectsUpdateRateLimits(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")

	out := mustRun(t, "projects", "update", "web", "--rate-limit", "100/s", "--burst", "200", "--client-rate-limit", "600/m")
	for _, want := range []string{"project", "100/s", "200", "per client address", "10/s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("update: want %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "GitHub") {
		t.Fatalf("a limits-only update printed the build source:\n%s", out)
	}
	out = mustRun(t, "projects", "update", "web", "--client-rate-limit", "off", "--json")
	var p api.Project
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.RateLimits == nil ||
		*p.RateLimits != (api.RateLimits{Project: api.RateLimit{Rate: 100, Burst: 200}}) {
		t.Fatalf("after removing the client limit: %v\n%s", err, out)
	}
	if _, err := run(t, "projects", "update", "web", "--rate-limit", "fast"); err == nil || !strings.Contains(err.Error(), "100/s") {
		t.Fatalf("bad rate: %v", err)
	}
	if _, err := run(t, "projects", "update", "web", "--burst", "5"); err == nil || !strings.Contains(err.Error(), "--burst needs --rate-limit") {
		t.Fatalf("burst alone: %v", err)
	}
	out = mustRun(t, "projects", "update", "web", "--rate-limit", "off")
	if !strings.Contains(out, "has no rate limit") {
		t.Fatalf("after removing both: %s", out)
	}
}
