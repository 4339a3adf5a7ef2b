package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestDeleteCommands: deleting asks for the name unless --yes, refuses a
// wrong one, and an organisation goes only once its projects are gone.
func TestDeleteCommands(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "orgs", "create", "team")
	mustRun(t, "projects", "create", "web", "--org", "team")

	if out, err := runStdin(t, "wbe\n", "projects", "delete", "web", "--org", "team"); err == nil || !strings.Contains(err.Error(), "was not deleted") {
		t.Fatalf("a wrong name deleted the project: %v\n%s", err, out)
	}
	if _, err := runStdin(t, "", "projects", "delete", "web", "--org", "team"); err == nil || !strings.Contains(err.Error(), "--yes") ||
		strings.Contains(err.Error(), "EOF") {
		t.Fatalf("no confirmation: %v", err)
	}
	_, err := run(t, "orgs", "delete", "team", "--yes")
	if err == nil || !strings.Contains(err.Error(), "still has 1 project") || !strings.Contains(err.Error(), "zeitwork projects delete") {
		t.Fatalf("deleting an organisation with a project: %v", err)
	}
	out, err := runStdin(t, "web\n", "projects", "delete", "web", "--org", "team")
	if err != nil || !strings.Contains(out, "Deleted project web") || !strings.Contains(out, "the name is free again") {
		t.Fatalf("delete project: %v\n%s", err, out)
	}
	if out := mustRun(t, "projects", "list", "--org", "team"); strings.Contains(out, "web") {
		t.Fatalf("web still listed:\n%s", out)
	}
	mustRun(t, "orgs", "switch", "team")
	var deleted api.DeletedOrganisation
	out = mustRun(t, "orgs", "delete", "team", "--yes", "--json")
	if err := json.Unmarshal([]byte(out), &deleted); err != nil || deleted.Name != "team" || deleted.Members != 1 {
		t.Fatalf("delete org --json: %v %q", err, out)
	}
	// The deleted organisation is no longer the current one.
	if out := mustRun(t, "orgs", "list"); strings.Contains(out, "team") {
		t.Fatalf("team still listed:\n%s", out)
	}
	if out := mustRun(t, "projects", "list"); !strings.Contains(out, "NAME") {
		t.Fatalf("projects list after the deletion:\n%s", out)
	}
}
