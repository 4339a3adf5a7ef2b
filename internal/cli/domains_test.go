package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestDomainsCommands: add prints the records to publish; list shows the
// status and why, as a table and as JSON; verify of a domain whose
// records are not seen fails with the reason and what to do; remove finds
// the domain's project by itself.
func TestDomainsCommands(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")

	out := mustRun(t, "domains", "add", "web", "www.example.com")
	for _, want := range []string{"www.example.com", "CNAME", "web.apps.test", "_zeitwork-challenge.www.example.com", "TXT", "zw-", "zeitwork domains verify www.example.com"} {
		if !strings.Contains(out, want) {
			t.Fatalf("add: want %q in\n%s", want, out)
		}
	}
	mustRun(t, "domains", "add", "web", "old.example.com", "--redirect-to", "www.example.com", "--status", "301")
	if _, err := run(t, "domains", "add", "web", "bad_name.example.com"); err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("bad name: %v", err)
	}

	out = mustRun(t, "domains", "list")
	for _, want := range []string{"DOMAIN", "STATUS", "REASON", "www.example.com", "pending", "301 to www.example.com"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list: want %q in\n%s", want, out)
		}
	}
	var ds []api.Domain
	if err := json.Unmarshal([]byte(mustRun(t, "domains", "list", "web", "--json")), &ds); err != nil || len(ds) != 2 || ds[1].Name != "www.example.com" || ds[1].Routed {
		t.Fatalf("list --json: %v %+v", err, ds)
	}

	out, err := run(t, "domains", "verify", "www.example.com")
	if err == nil || !strings.Contains(err.Error(), "is not verified") || !strings.Contains(err.Error(), "hint:") || !strings.Contains(out, "TXT") {
		t.Fatalf("verify without records: %v\n%s", err, out)
	}
	if _, err := run(t, "domains", "verify", "nope.example.com"); err == nil || !strings.Contains(err.Error(), "not a domain of your organisation") {
		t.Fatalf("verify an unknown domain: %v", err)
	}

	out = mustRun(t, "domains", "remove", "old.example.com")
	if !strings.Contains(out, "Removed old.example.com from web") {
		t.Fatalf("remove: %s", out)
	}
	if out = mustRun(t, "domains", "list", "web"); strings.Contains(out, "old.example.com") {
		t.Fatalf("removed domain still listed:\n%s", out)
	}
}
