package api

import "time"

// OrganisationHeader names the organisation a request acts in, for a user
// token that is not limited to one (the CLI's --org). Without it the
// request acts in the user's first organisation.
const OrganisationHeader = "Zeitwork-Organisation"

// Roles, from most to least powerful; each may do what those below may.
const (
	RoleOwner     = "owner"     // members, organisation settings
	RoleAdmin     = "admin"     // projects, settings, env vars, build args
	RoleDeveloper = "developer" // deploy, rollback, builds, logs, env var names
	RoleViewer    = "viewer"    // read only, never secrets
)

// Organisation is one of the caller's organisations and their role there.
type Organisation struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateOrganisationRequest makes an organisation with the caller as owner.
type CreateOrganisationRequest struct {
	Name string `json:"name"`
}

// Member is a user's membership of the organisation.
type Member struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	// InstallationAdmin: the user administers the installation.
	InstallationAdmin bool      `json:"installation_admin,omitempty"`
	Since             time.Time `json:"since"`
}

// SetRoleRequest changes a member's role.
type SetRoleRequest struct {
	Role string `json:"role"`
}

// CreateInvitationRequest invites an e-mail address with a role;
// ExpiresIn is a Go duration ("72h"), 7 days if empty.
type CreateInvitationRequest struct {
	Email     string `json:"email"`
	Role      string `json:"role"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// Invitation is shown once, with its single-use token, to whoever invites.
type Invitation struct {
	// ID names the invitation for DELETE /v1/invitations/{id} (revoke).
	ID           string `json:"id,omitempty"`
	Organisation string `json:"organisation"`
	Email        string `json:"email"`
	Role         string `json:"role"`
	// Token is the single-use secret the invitee accepts with; it is
	// only returned when the operator did not mail it.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// Mailed: the operator mailed the invitation to Email (an SMTP relay
	// is configured). MailError says why it could not, if it tried.
	Mailed    bool   `json:"mailed,omitempty"`
	MailError string `json:"mail_error,omitempty"`
}

// AcceptInvitationRequest accepts an invitation. A new user gets a token;
// an existing user must send their own token, and gets none.
type AcceptInvitationRequest struct {
	Token string `json:"token"`
	// Password, if set, is a new user's password for signing in to the
	// dashboard (at least MinPasswordLength characters).
	Password string `json:"password,omitempty"`
}

// AcceptInvitationResponse says which organisation the caller joined.
type AcceptInvitationResponse struct {
	Organisation string `json:"organisation"`
	Email        string `json:"email"`
	Role         string `json:"role"`
	// Token is a new API token of the new user (empty for existing users).
	Token string `json:"token,omitempty"`
}

// CreateTokenRequest makes an API token of the caller for the request's
// organisation. Role defaults to the caller's; it may not be higher.
// Projects, if given, limit it to those projects (a deploy token for CI).
// ExpiresIn is a Go duration ("720h"); empty means 90 days, "never" none.
type CreateTokenRequest struct {
	Name      string   `json:"name"`
	Role      string   `json:"role,omitempty"`
	Projects  []string `json:"projects,omitempty"`
	ExpiresIn string   `json:"expires_in,omitempty"`
}

// Token describes an API token; Secret is set only when it is created.
type Token struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Organisation string     `json:"organisation,omitempty"` // empty: any of the user's
	Role         string     `json:"role,omitempty"`         // empty: the user's role
	Projects     []string   `json:"projects,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
	LastUsedAddr string     `json:"last_used_addr,omitempty"`
	Secret       string     `json:"token,omitempty"`
}

// InstallationSettings are what the installation's administrators set for
// every organisation. SignupDomains empty: sign-up is closed (invitations
// only); else addresses of those domains may sign up.
type InstallationSettings struct {
	SignupDomains []string  `json:"signup_domains"`
	UpdatedAt     time.Time `json:"updated_at,omitempty"`
}

// SignupRequest makes a user and an organisation they own, when sign-up
// is open to the address's domain.
type SignupRequest struct {
	Email        string `json:"email"`
	Organisation string `json:"organisation"`
	// Password, if set, lets the user sign in to the dashboard (at least
	// MinPasswordLength characters).
	Password string `json:"password,omitempty"`
}

// DeletedOrganisation is the answer to DELETE /v1/orgs/{org}.
type DeletedOrganisation struct {
	Name string `json:"name"`
	// Members lost their access to it; their accounts stay.
	Members int `json:"members"`
}
