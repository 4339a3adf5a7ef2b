package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestInvitationsRevoke: `invitations list` shows a pending invitation
// with its ID, `invitations revoke ID` revokes it, and its command then
// fails with what to do.
func TestInvitationsRevoke(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	out := mustRun(t, "members", "invite", "ada@acme.test", "--role", "viewer")
	invite := regexp.MustCompile(`--invite (zwi_\S+)`).FindStringSubmatch(out)
	revokeHint := regexp.MustCompile("zeitwork invitations revoke (\\S+)`").FindStringSubmatch(out)
	if invite == nil || revokeHint == nil {
		t.Fatalf("invite output:\n%s", out)
	}
	var is []api.Invitation
	if err := json.Unmarshal([]byte(mustRun(t, "invitations", "list", "--json")), &is); err != nil || len(is) != 1 || is[0].ID != revokeHint[1] {
		t.Fatalf("invitations list --json: %v %+v, want the ID %s", err, is, revokeHint[1])
	}
	if out := mustRun(t, "invitations", "list"); !strings.Contains(out, is[0].ID) || !strings.Contains(out, "ada@acme.test") {
		t.Errorf("invitations list:\n%s", out)
	}
	if out := mustRun(t, "invitations", "revoke", is[0].ID); !strings.Contains(out, "Revoked invitation "+is[0].ID) {
		t.Errorf("revoke: %s", out)
	}
	if out := mustRun(t, "invitations", "list"); strings.Contains(out, "ada@acme.test") {
		t.Errorf("revoked invitation still listed:\n%s", out)
	}
	if _, err := run(t, "invitations", "revoke", is[0].ID); err == nil || !strings.Contains(err.Error(), "no pending invitation") {
		t.Errorf("revoking twice: %v", err)
	}
	t.Setenv("ZEITWORK_CONFIG", t.TempDir()+"/ada.json")
	if _, err := run(t, "login", "--api", url, "--invite", invite[1]); err == nil || !strings.Contains(err.Error(), "no such invitation") {
		t.Errorf("accepting the revoked invitation: %v", err)
	}
}
