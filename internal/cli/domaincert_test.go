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

// TestDomainsListCertificates: domains list shows each domain's HTTPS
// certificate as the edges reported it: pending, issued with its expiry,
// failed with the reason and the next try, in the table and in --json.
func TestDomainsListCertificates(t *testing.T) {
	srv := operatortest.Start(t)
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", "")
	t.Setenv("ZEITWORK_TOKEN", "")
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)
	mustRun(t, "projects", "create", "web")
	for _, d := range []string{"www.example.com", "shop.example.com", "new.example.com"} {
		mustRun(t, "domains", "add", "web", d)
	}
	edge, err := operator.CreateEdgeToken(context.Background(), srv.Store, "edge")
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(60 * 24 * time.Hour).UTC()
	report(t, srv.URL, edge, api.CertStatus{Name: "www.example.com", ExpiresAt: &expires})
	report(t, srv.URL, edge, api.CertStatus{Name: "shop.example.com", Error: "acme: challenge failed: connection refused"})

	out := mustRun(t, "domains", "list", "web")
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	for name, wants := range map[string][]string{
		"DOMAIN":           {"CERT", "EXPIRES", "REASON"},
		"www.example.com":  {"issued", expires.Format("2006-01-02")},
		"shop.example.com": {"failed", "certificate: acme: challenge failed: connection refused; next try in"},
		"new.example.com":  {"pending"},
	} {
		for _, want := range wants {
			if !strings.Contains(lines[name], want) {
				t.Fatalf("list: want %q on the line of %s in\n%s", want, name, out)
			}
		}
	}
	var ds []api.Domain
	if err := json.Unmarshal([]byte(mustRun(t, "domains", "list", "--json")), &ds); err != nil {
		t.Fatal(err)
	}
	got := map[string]api.CertificateState{}
	for _, d := range ds {
		got[d.Name] = d.Certificate
	}
	if c := got["shop.example.com"]; c.Status != api.CertFailed || c.NextAttemptAt == nil || c.LastError == "" {
		t.Fatalf("--json: %+v", c)
	}
	if c := got["www.example.com"]; c.Status != api.CertIssued || c.ExpiresAt == nil || got["new.example.com"].Status != api.CertPending {
		t.Fatalf("--json: %+v", got)
	}
}

// report sends an edge's issuance outcome to the operator.
func report(t *testing.T, url, token string, s api.CertStatus) {
	t.Helper()
	body, _ := json.Marshal(s)
	req, _ := http.NewRequest("POST", url+"/v1/edge/certs/status", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("report %s: %s", s.Name, resp.Status)
	}
}
