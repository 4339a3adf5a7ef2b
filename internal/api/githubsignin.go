package api

import "time"

// SignInMethods is GET /v1/session/methods: how a browser may sign in
// here (no authentication needed).
type SignInMethods struct {
	Password bool `json:"password"`
	// GitHub is true when the GitHub App has an OAuth client; a browser
	// then opens GitHubURL (with ?invitation=TOKEN to accept one).
	GitHub    bool   `json:"github"`
	GitHubURL string `json:"github_url,omitempty"`
}

// GitHubIdentity is GET /v1/user/github: the GitHub account the caller
// signs in with.
type GitHubIdentity struct {
	ID       int64     `json:"id"`
	Login    string    `json:"login"`
	LinkedAt time.Time `json:"linked_at"`
	// CanListRepos: the GitHub token from the last sign-in is still valid,
	// or its refresh token can renew it.
	CanListRepos bool `json:"can_list_repos"`
}

// TruncatedHeader is set ("true") on GET /v1/github/repositories when
// the user can reach more repositories than the list holds.
const TruncatedHeader = "Zeitwork-Truncated"

// GitHubRepo is one entry of GET /v1/github/repositories: a repository
// the App can reach for the signed-in user.
type GitHubRepo struct {
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
}
