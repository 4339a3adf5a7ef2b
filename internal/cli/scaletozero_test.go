package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// projects update sets scale to zero and the idle timeout, projects show
// shows them, and bad values are refused with a hint before any request.
func TestProjectsScaleToZero(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")
	if out := mustRun(t, "projects", "show", "web"); !strings.Contains(out, "preview deployments scale to zero after 5m without") {
		t.Errorf("default:\n%s", out)
	}
	out := mustRun(t, "projects", "update", "web", "--scale-to-zero", "all", "--idle-timeout", "90s")
	if !strings.Contains(out, "every deployment scales to zero after 1m30s") {
		t.Errorf("update: %s", out)
	}
	var p api.Project
	if err := json.Unmarshal([]byte(mustRun(t, "projects", "show", "web", "--json")), &p); err != nil ||
		p.ScaleToZero != "all" || p.IdleTimeoutSeconds != 90 {
		t.Errorf("show --json: %v %+v", err, p)
	}
	if out := mustRun(t, "projects", "update", "web", "--scale-to-zero", "off"); !strings.Contains(out, "no deployment scales to zero") {
		t.Errorf("off: %s", out)
	}
	for _, bad := range [][]string{{"--scale-to-zero", "sometimes"}, {"--idle-timeout", "1s"}, {"--idle-timeout", "1500ms"}} {
		if _, err := run(t, append([]string{"projects", "update", "web"}, bad...)...); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
