package api

import "time"

// AuditEntry is one state-changing request as the audit log recorded it:
// who, what, when, from where, and how it ended. Nothing of the request's
// body is recorded (an env var's name is, its value never).
type AuditEntry struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Actor is who made the request.
	Actor AuditActor `json:"actor"`
	// Action names what was asked, e.g. "project.create", "env.set",
	// "deployment.create", "git.push", "github.push".
	Action string `json:"action"`
	// ObjectKind and Object name what it was asked of, e.g. "env" and
	// "DATABASE_URL", or "deployment" and its id.
	ObjectKind string `json:"object_kind,omitempty"`
	Object     string `json:"object,omitempty"`
	Project    string `json:"project,omitempty"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	// ClientAddr is the address the request came from (the TCP peer).
	ClientAddr string `json:"client_addr,omitempty"`
	// Status is the HTTP status answered; Error the error message, if any.
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// AuditActor is who made a request: a user through one of their tokens,
// or a system actor (Kind "github" for webhook deliveries, "admin" for the
// operator's admin token, "join" for node registration, "anonymous" for
// a request without a valid token).
type AuditActor struct {
	Kind string `json:"kind"`
	// Role is the role the user acted in, where organisations have roles.
	Role    string `json:"role,omitempty"`
	UserID  string `json:"user_id,omitempty"`
	User    string `json:"user,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	Token   string `json:"token,omitempty"`
}

// AuditPage is one page of GET /v1/audit, newest first. Next, if set, is
// the value of the before parameter that fetches the next (older) page.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    string       `json:"next,omitempty"`
}
