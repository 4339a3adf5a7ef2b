package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestTeamCommands: an owner invites a developer, who logs in with the
// invitation; organisations are created and switched; --org picks one per
// command; tokens are created, listed and revoked.
func TestTeamCommands(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "shop")

	out := mustRun(t, "members", "invite", "ada@acme.test", "--role", "developer")
	invite := regexp.MustCompile(`--invite (zwi_\S+)`).FindStringSubmatch(out)
	if invite == nil || !strings.Contains(out, "zeitwork login --api "+url) {
		t.Fatalf("invite printed no command:\n%s", out)
	}
	owner := filepath.Join(t.TempDir(), "owner.json")
	t.Setenv("ZEITWORK_CONFIG", owner)
	mustRun(t, "login", "--api", url, "--token", token)

	ada := filepath.Join(t.TempDir(), "ada.json")
	t.Setenv("ZEITWORK_CONFIG", ada)
	out = mustRun(t, "login", "--api", url, "--invite", invite[1])
	if !strings.Contains(out, "Joined organisation acme as developer") {
		t.Fatalf("accept: %s", out)
	}
	if _, err := run(t, "login", "--api", url, "--invite", invite[1]); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("an invitation worked twice: %v", err)
	}
	if out := mustRun(t, "projects", "list"); !strings.Contains(out, "shop") {
		t.Fatalf("ada's projects: %s", out)
	}
	if _, err := run(t, "projects", "create", "mine"); err == nil || !strings.Contains(err.Error(), "needs the admin role") {
		t.Fatalf("a developer created a project: %v", err)
	}

	mustRun(t, "orgs", "create", "side")
	if _, err := run(t, "projects", "list", "--org", "nope"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("--org of another organisation: %v", err)
	}
	mustRun(t, "projects", "create", "side-app", "--org", "side")
	mustRun(t, "orgs", "switch", "side")
	if out := mustRun(t, "projects", "list"); !strings.Contains(out, "side-app") || strings.Contains(out, "shop") {
		t.Fatalf("projects after switching: %s", out)
	}
	var orgs []api.Organisation
	if err := json.Unmarshal([]byte(mustRun(t, "orgs", "list", "--json")), &orgs); err != nil || len(orgs) != 2 {
		t.Fatalf("orgs: %+v %v", orgs, err)
	}
	if out := mustRun(t, "orgs", "list"); !regexp.MustCompile(`\*\s+side\s+owner`).MatchString(out) {
		t.Fatalf("orgs table:\n%s", out)
	}

	out = mustRun(t, "tokens", "create", "ci", "--role", "developer", "--project", "side-app", "--expires", "24h")
	if !strings.Contains(out, "zw_") || !strings.Contains(out, "on side-app") {
		t.Fatalf("tokens create: %s", out)
	}
	out = mustRun(t, "tokens", "list")
	if !strings.Contains(out, "LAST USED") || !regexp.MustCompile(`ci\s+side\s+developer\s+side-app`).MatchString(out) {
		t.Fatalf("tokens list:\n%s", out)
	}
	mustRun(t, "tokens", "revoke", "ci")
	if out := mustRun(t, "tokens", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("revoked token not shown as such:\n%s", out)
	}

	t.Setenv("ZEITWORK_CONFIG", owner)
	if out := mustRun(t, "settings", "show"); !strings.Contains(out, "closed") {
		t.Fatalf("settings: %s", out)
	}
	mustRun(t, "settings", "set", "--signup-domains", "example.com")
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "bob.json"))
	if out := mustRun(t, "login", "--api", url, "--signup", "bob@example.com", "--org", "bobs"); !strings.Contains(out, "owner of bobs") {
		t.Fatalf("sign-up: %s", out)
	}
	if out := mustRun(t, "orgs", "list"); !regexp.MustCompile(`\*\s+bobs\s+owner`).MatchString(out) {
		t.Fatalf("bob's orgs:\n%s", out)
	}
	if _, err := run(t, "settings", "set", "--signup-domains", ""); err == nil || !strings.Contains(err.Error(), "administrators") {
		t.Fatalf("a user who does not administer the installation changed settings: %v", err)
	}

	t.Setenv("ZEITWORK_CONFIG", owner)
	if out := mustRun(t, "members", "list"); !regexp.MustCompile(`ada@acme.test\s+developer`).MatchString(out) {
		t.Fatalf("members:\n%s", out)
	}
	mustRun(t, "members", "set-role", "ada@acme.test", "viewer")
	mustRun(t, "members", "remove", "ada@acme.test")
	if out := mustRun(t, "members", "list", "--json"); strings.Contains(out, "ada@") {
		t.Fatalf("removed member listed: %s", out)
	}
}
