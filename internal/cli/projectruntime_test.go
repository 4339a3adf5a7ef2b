package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// projects update sets the port, health path, size and minimum per
// region with create's flag names; the operator's refusal reaches the user.
func TestProjectsUpdateRuntime(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")
	out := mustRun(t, "projects", "update", "web", "--port", "3000", "--health-path", "/healthz",
		"--vcpus", "2", "--memory", "512", "--min-instances", "2")
	if !strings.Contains(out, "port 3000, health check HTTP GET /healthz, 2 vCPU, 512 MiB, 2 instances per region") {
		t.Errorf("update: %s", out)
	}
	var p api.Project
	if err := json.Unmarshal([]byte(mustRun(t, "projects", "show", "web", "--json")), &p); err != nil ||
		p.Port != 3000 || p.HealthPath != "/healthz" || p.VCPUs != 2 || p.MemoryMiB != 512 || p.MinInstancesPerRegion != 2 {
		t.Errorf("show --json: %v %+v", err, p)
	}
	if out := mustRun(t, "projects", "update", "web", "--health-path", ""); !strings.Contains(out, "health check TCP connection") {
		t.Errorf("TCP check: %s", out)
	}
	if _, err := run(t, "projects", "update", "web", "--port", "70000"); err == nil || !strings.Contains(err.Error(), "invalid port 70000") {
		t.Errorf("bad port: %v", err)
	}
}
