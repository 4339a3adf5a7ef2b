package api

import "time"

// DeploymentEvent is one entry of a deployment's timeline (GET
// /v1/deployments/{deployment}/events): placements, state changes,
// failures, the switch of the live deployment.
type DeploymentEvent struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
	Instance string    `json:"instance,omitempty"`
}

// Change is the data of a GET /v1/stream "change" event: something of
// Kind changed, so pages showing it fetch it again. ID is the object's id
// (a project's or deployment's name or id as the API shows it, an
// instance's, node's or token's id, a domain name, an env var's name, a
// member's or invitation's e-mail address); Project names the project it
// belongs to, if any.
type Change struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Project string `json:"project,omitempty"`
}

// Change kinds.
const (
	ChangeProject    = "project"
	ChangeDeployment = "deployment"
	ChangeInstance   = "instance"
	ChangeDomain     = "domain"
	ChangeEnv        = "env"
	ChangeMember     = "member"
	ChangeInvitation = "invitation"
	ChangeToken      = "token"
	ChangeNode       = "node"
	ChangeBuild      = "build"
)
