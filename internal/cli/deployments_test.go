package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// `deployments show` prints each instance's unique and shared memory and
// host CPU, and "-" where the node has not reported them.
func TestDeploymentsShowUsage(t *testing.T) {
	cpu := 0.42
	d := api.Deployment{ID: "abc123", Project: "shop", Status: api.StatusReady, Instances: []api.Instance{
		{ID: "11111111-aaaa", Region: "eu", State: api.InstanceHealthy, Desired: "running", Usage: &api.InstanceUsage{
			RSSBytes: 180 << 20, PSSBytes: 140 << 20, USSBytes: 110 << 20, SharedBytes: 70 << 20, CPUPercent: &cpu, SampledAt: time.Now()}},
		{ID: "22222222-bbbb", Region: "eu", State: api.InstanceStarting, Desired: "running"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/deployments/abc123" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(d)
	}))
	defer srv.Close()
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", srv.URL)
	t.Setenv("ZEITWORK_TOKEN", "t")
	out := mustRun(t, "deployments", "show", "abc123")
	lines := strings.Split(out, "\n")
	var header, first, second string
	for i, l := range lines {
		if strings.HasPrefix(l, "INSTANCE") && i+2 < len(lines) {
			header, first, second = l, lines[i+1], lines[i+2]
		}
	}
	for _, col := range []string{"UNIQUE MEM", "SHARED MEM", "HOST CPU"} {
		if !strings.Contains(header, col) {
			t.Errorf("no %s column:\n%s", col, out)
		}
	}
	if !strings.Contains(first, "110 MiB") || !strings.Contains(first, "70 MiB") || !strings.Contains(first, "0.42%") {
		t.Errorf("reported instance's row: %q", first)
	}
	if strings.Contains(second, "MiB") || !strings.Contains(second, " - ") {
		t.Errorf("unreported instance's row: %q", second)
	}
}
