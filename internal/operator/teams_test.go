package operator_test

import (
	"github.com/zeitwork/zeitwork/internal/api"
)

// member invites email into the bootstrap user's organisation with role,
// accepts, and returns the new user's login token.
func (h *harness) member(email, role string) string {
	h.t.Helper()
	var inv api.Invitation
	if code := h.call("POST", "/v1/invitations", h.token, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
		h.t.Fatalf("invite %s: %d", email, code)
	}
	var acc api.AcceptInvitationResponse
	if code := h.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token}, &acc); code != 200 || acc.Token == "" {
		h.t.Fatalf("accept invitation of %s: %d %+v", email, code, acc)
	}
	return acc.Token
}
