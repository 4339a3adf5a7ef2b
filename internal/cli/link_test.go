package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkedDirectory: after `zeitwork link`, commands run in the
// directory or below need no project and say which they used; a named one
// wins; a link to another operator is refused; unlink removes it.
func TestLinkedDirectory(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	dir := t.TempDir()
	t.Chdir(dir)

	if out := mustRun(t, "projects", "create", "shop"); strings.Contains(out, "zeitwork link") {
		t.Errorf("create without a Dockerfile hints to link:\n%s", out)
	}
	if err := os.WriteFile("Dockerfile", []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "projects", "create", "web"); !strings.Contains(out, "zeitwork link web") {
		t.Errorf("create beside a Dockerfile does not hint to link:\n%s", out)
	}

	_, err := run(t, "deployments", "list")
	var ue *UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "not linked") || !strings.Contains(ue.Hint, "zeitwork link PROJECT") {
		t.Fatalf("unlinked directory: %v", err)
	}
	if _, err := run(t, "link", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("link to an unknown project: %v", err)
	}
	mustRun(t, "link", "shop")
	var l projectLink
	if b, err := os.ReadFile(filepath.Join(dir, ".zeitwork", "project.json")); err != nil || json.Unmarshal(b, &l) != nil ||
		l.Project != "shop" || l.APIURL != url {
		t.Fatalf("link file: %+v %v", l, err)
	}
	if out := mustRun(t, "link"); !strings.Contains(out, "project shop") {
		t.Errorf("link shows:\n%s", out)
	}

	// Below the linked directory, with nothing named.
	sub := filepath.Join(dir, "src", "app")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	id := deployLayout(t, "")
	used := "Using project shop (linked in " + dir + ")"
	if out := mustRun(t, "deployments", "list"); !strings.Contains(out, used) || !strings.Contains(out, id) {
		t.Errorf("deployments list:\n%s", out)
	}
	mustRun(t, "env", "set", "A=1", "B=")
	if out := mustRun(t, "env", "list", "shop"); !strings.Contains(out, "A") || !strings.Contains(out, "B") {
		t.Errorf("env set without a project did not set the linked one's:\n%s", out)
	}
	mustRun(t, "env", "unset", "A")
	if out := mustRun(t, "env", "list"); strings.Contains(out, "A ") || !strings.Contains(out, "B") {
		t.Errorf("env unset without a project:\n%s", out)
	}
	mustRun(t, "build-args", "set", "REV=1")
	if out := mustRun(t, "domains", "add", "www.example.com"); !strings.Contains(out, "to shop") {
		t.Errorf("domains add without a project:\n%s", out)
	}
	if out := mustRun(t, "builds", "list"); !strings.Contains(out, used) {
		t.Errorf("builds list:\n%s", out)
	}
	if _, err := run(t, "logs"); err == nil || !strings.Contains(err.Error(), "project shop has no live deployment") {
		t.Errorf("logs without a project: %v", err)
	}

	// A named project wins, and says nothing of the link.
	if out := mustRun(t, "deployments", "list", "web"); strings.Contains(out, "Using project") || !strings.Contains(out, "No deployments of web") {
		t.Errorf("deployments list web:\n%s", out)
	}
	if out := mustRun(t, "env", "list", "web"); strings.Contains(out, "B") {
		t.Errorf("env list web shows the linked project's:\n%s", out)
	}

	// A link to another operator is refused, not used against this one.
	other, _ := json.Marshal(projectLink{Project: "shop", APIURL: "http://127.0.0.1:1"})
	if err := os.WriteFile(filepath.Join(dir, ".zeitwork", "project.json"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "deployments", "list"); err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1") || !strings.Contains(err.Error(), "logged in to "+url) {
		t.Errorf("link to another operator: %v", err)
	}

	if out := mustRun(t, "unlink"); !strings.Contains(out, "Unlinked "+dir) {
		t.Errorf("unlink:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".zeitwork")); !os.IsNotExist(err) {
		t.Errorf("unlink left .zeitwork: %v", err)
	}
	if _, err := run(t, "rollback"); err == nil || !strings.Contains(err.Error(), "not linked") {
		t.Errorf("rollback after unlink: %v", err)
	}
}
