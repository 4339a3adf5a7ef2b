package api

import "time"

// Browser sessions (docs/api.md, "Sessions"). The dashboard signs in with
// an e-mail address and a password, or a one-time sign-in link, and is
// then sent the session in an HttpOnly cookie. Every request it sends
// with that cookie and a method other than GET, HEAD or OPTIONS carries
// the session's CSRF token in CSRFHeader.
const (
	SessionCookie = "zw_session"
	CSRFHeader    = "X-CSRF-Token"
)

// SignInRequest signs in with a password (POST /v1/session).
type SignInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignInLinkRequest exchanges a one-time sign-in link's token for a
// session (POST /v1/session/link).
type SignInLinkRequest struct {
	Token string `json:"token"`
}

// SessionUser is the signed-in user.
type SessionUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// InstallationAdmin: the user administers the installation (nodes).
	InstallationAdmin bool `json:"installation_admin,omitempty"`
}

// Session answers a sign-in and GET /v1/session: who is signed in, the
// organisation the session acts in (the one api.OrganisationHeader names,
// else the user's first; nil if none) and the role there, and the token
// every changing request must carry in CSRFHeader.
type Session struct {
	User         SessionUser   `json:"user"`
	Organisation *Organisation `json:"organisation"`
	Role         string        `json:"role"`
	CSRFToken    string        `json:"csrf_token"`
	// ExpiresAt is the session's absolute end; it ends earlier if idle.
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateSignInLinkRequest makes a one-time sign-in link for a user (the
// caller if Email is empty); installation administrators only.
type CreateSignInLinkRequest struct {
	Email string `json:"email,omitempty"`
}

// SignInLink is a one-time sign-in link, shown once. URL is set when the
// operator knows its public URL; else clients make it from their API URL:
// <api>/signin?token=<Token>.
type SignInLink struct {
	Email     string    `json:"email"`
	Token     string    `json:"token"`
	URL       string    `json:"url,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ChangePasswordRequest changes the caller's password (PUT
// /v1/user/password). CurrentPassword may be empty only while the user
// has none. The user's other sessions end.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// MinPasswordLength is the shortest password the operator accepts.
const MinPasswordLength = 10

// RevokedSessions answers POST /v1/session/revoke-all.
type RevokedSessions struct {
	Revoked int64 `json:"revoked"`
}
