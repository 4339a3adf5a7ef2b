package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestLogsEdge: lines an edge shipped for a project print with
// `zeitwork logs --edge`, as they are or as JSON; another project's do not.
func TestLogsEdge(t *testing.T) {
	srv := operatortest.Start(t)
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", "")
	t.Setenv("ZEITWORK_TOKEN", "")
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)
	mustRun(t, "projects", "create", "web")
	mustRun(t, "projects", "create", "other")
	edgeToken, err := operator.CreateEdgeToken(context.Background(), srv.Store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	line := `{"msg":"request","request_id":"r-1","host":"web.apps.test","status":200,"project":"web"}`
	body, _ := json.Marshal(api.EdgeLogBatch{Lines: []api.EdgeLogLine{
		{Project: "web", Time: time.Now(), Text: line},
		{Project: "other", Time: time.Now(), Text: `{"request_id":"r-other"}`},
	}})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/edge/logs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+edgeToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("ship: %s", resp.Status)
	}
	if out := mustRun(t, "logs", "--edge", "web"); strings.TrimSpace(out) != line {
		t.Fatalf("logs --edge web:\n%s", out)
	}
	var got api.EdgeLogLine
	if err := json.Unmarshal([]byte(mustRun(t, "logs", "--edge", "web", "--json")), &got); err != nil || got.Text != line || got.Time.IsZero() {
		t.Fatalf("logs --edge --json: %v %+v", err, got)
	}
	if _, err := run(t, "logs", "--edge", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown project: %v", err)
	}
}
