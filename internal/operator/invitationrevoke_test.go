package operator_test

import (
	"net/http"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

// TestInvitationRevoke: an owner revokes a pending invitation; its token
// is then refused, the change stream tells of it and the audit log has
// it. Others may not revoke it: an admin is refused, another
// organisation's owner finds nothing, and an accepted invitation is gone.
func TestInvitationRevoke(t *testing.T) {
	h := start(t)
	admin := h.member("adam@acme.test", "admin")
	globex := h.otherOrg("shop")
	stream := openStream(t, h.url, bearerHeader(h.token))
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "ada@acme.test", Role: "developer"}, &inv); code != 201 || inv.ID == "" {
		t.Fatalf("invite: %d %+v", code, inv)
	}
	pending := func() int {
		var is []api.Invitation
		h.call("GET", "/v1/invitations", h.token, nil, &is)
		return len(is)
	}
	if code := h.call("DELETE", "/v1/invitations/"+inv.ID, admin, nil, nil); code != http.StatusForbidden {
		t.Errorf("an admin's revoke: %d, want 403", code)
	}
	if code := h.call("DELETE", "/v1/invitations/"+inv.ID, globex, nil, nil); code != http.StatusNotFound {
		t.Errorf("another organisation's revoke: %d, want 404", code)
	}
	if n := pending(); n != 1 {
		t.Fatalf("pending after refused revokes: %d, want 1", n)
	}
	if code := h.call("DELETE", "/v1/invitations/"+inv.ID, h.token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	stream.waitFor("the revoke on the stream", func(c api.Change) bool {
		return c.Kind == "invitation" && c.ID == "ada@acme.test" && pending() == 0
	})
	var e api.Error
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &e); code != http.StatusNotFound {
		t.Fatalf("accepting a revoked invitation: %d %+v, want 404", code, e)
	}
	if code := h.call("DELETE", "/v1/invitations/"+inv.ID, h.token, nil, &e); code != http.StatusNotFound || e.Hint == "" {
		t.Errorf("revoking again: %d %+v, want 404 with a hint", code, e)
	}
	if code := h.call("DELETE", "/v1/invitations/not-an-id", h.token, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoking a malformed id: %d, want 404", code)
	}
	if entry := h.findEntry(h.token, "invitation.revoke", http.StatusNoContent); entry.Object != "ada@acme.test" {
		t.Errorf("audit entry: %+v", entry)
	}

	// An accepted invitation is not pending: revoking it finds nothing.
	var used api.Invitation
	h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: "bob@acme.test", Role: "viewer"}, &used)
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: used.Token}, nil); code != 200 {
		t.Fatalf("accept: %d", code)
	}
	if code := h.call("DELETE", "/v1/invitations/"+used.ID, h.token, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoking an accepted invitation: %d, want 404", code)
	}
}
