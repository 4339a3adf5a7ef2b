package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestAudit: the log shows who set which env var and who was refused,
// as a table and as JSON, filtered by project; bad flags say what to give.
func TestAudit(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")
	mustRun(t, "env", "set", "web", "API_KEY=very-secret-1234")
	if _, err := run(t, "env", "unset", "web", "NOPE"); err == nil {
		t.Fatal("unset of a missing env var succeeded")
	}
	out := mustRun(t, "audit", "--project", "web", "--since", "1h")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("audit table:\n%s", out)
	}
	for i, want := range []string{"env.unset", "env.set", "project.create"} {
		if !strings.Contains(lines[i+1], want) || !strings.Contains(lines[i+1], "dev@acme.test (bootstrap)") {
			t.Errorf("line %d lacks %s by the user:\n%s", i+1, want, out)
		}
	}
	if !strings.Contains(lines[1], `404 env var "NOPE" not found`) || !strings.Contains(lines[2], "env API_KEY") || !strings.Contains(lines[2], "204") {
		t.Errorf("outcomes:\n%s", out)
	}
	if strings.Contains(out, "very-secret-1234") {
		t.Errorf("the env var's value is in the log:\n%s", out)
	}
	var entries []api.AuditEntry
	if err := json.Unmarshal([]byte(mustRun(t, "audit", "--json")), &entries); err != nil || len(entries) != 3 || entries[2].Action != "project.create" {
		t.Fatalf("audit --json: %v %+v", err, entries)
	}
	if out := mustRun(t, "audit", "--project", "other"); strings.Count(out, "\n") != 1 {
		t.Errorf("another project's entries:\n%s", out)
	}
	for _, args := range [][]string{{"--since", "yesterday"}, {"--limit", "0"}} {
		if _, err := run(t, append([]string{"audit"}, args...)...); err == nil || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("audit %v: %v", args, err)
		}
	}
}
