package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/pki"
)

// TestNodesJoinTokenAndRemove: an administrator makes a join token (table
// and JSON), a node enrols with it, and `nodes remove` takes it out.
func TestNodesJoinTokenAndRemove(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)

	out := mustRun(t, "nodes", "join-token", "--role", "edge", "--ttl", "30m")
	if !strings.Contains(out, "edge") || !strings.Contains(out, "zwj_") {
		t.Fatalf("join-token table: %s", out)
	}
	var jt api.JoinToken
	if err := json.Unmarshal([]byte(mustRun(t, "nodes", "join-token", "--json")), &jt); err != nil || jt.Role != "node" ||
		time.Until(jt.ExpiresAt) > time.Hour+time.Minute || !strings.HasPrefix(jt.Token, "zwj_") {
		t.Fatalf("join-token --json: %+v %v", jt, err)
	}
	if _, err := run(t, "nodes", "join-token", "--ttl", "0s"); err == nil {
		t.Error("a join token without life")
	}

	key, err := pki.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.CSR(key)
	body, _ := json.Marshal(api.RegisterNodeRequest{Region: "eu", Hostname: "box-1", TunnelAddr: "10.0.0.1:7443", Driver: "fake", CSR: string(csr)})
	req, _ := http.NewRequest("POST", url+"/v1/nodes/register", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+jt.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("enrol node: %v %v", resp, err)
	}
	resp.Body.Close()

	if out, err := run(t, "nodes", "remove", "no-such-box"); err == nil || !strings.Contains(out+err.Error(), "nodes list") {
		t.Errorf("remove unknown node: %v %s", err, out)
	}
	out = mustRun(t, "nodes", "remove", "box-1")
	if !strings.Contains(out, "box-1") || !strings.Contains(out, "RESCHEDULED") {
		t.Errorf("remove table: %s", out)
	}
}
