package operator

import (
	"net/http"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store"
)

// The signed-in user's GitHub account (the dashboard's account page) and
// the repositories the App reaches for them (its new-project form).

var errNoGitHubAccount = notFound("sign in to the dashboard with GitHub once to link your account", "no GitHub account is linked to you")

// getGitHubIdentity shows the caller's linked GitHub account.
func (o *Operator) getGitHubIdentity(w http.ResponseWriter, r *http.Request) error {
	id, err := o.store.GetGitHubIdentity(r.Context(), principalFrom(r.Context()).userID)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errNoGitHubAccount
		}
		return err
	}
	live := githubTokenLive(id) || githubRefreshLive(id)
	writeJSON(w, http.StatusOK, api.GitHubIdentity{ID: id.GithubID, Login: id.Login, LinkedAt: id.LinkedAt, CanListRepos: live})
	return nil
}

// unlinkGitHub drops the caller's GitHub account and its token; the
// account may then link to no one, or, by a verified address, again.
func (o *Operator) unlinkGitHub(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.limited {
		return errLimitedToken
	}
	id, err := o.store.GetGitHubIdentity(r.Context(), p.userID)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errNoGitHubAccount
		}
		return err
	}
	if _, err := o.store.DeleteGitHubIdentity(r.Context(), p.userID); err != nil {
		return err
	}
	auditFrom(r.Context()).setObject("github_user", id.Login)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listGitHubRepos lists the repositories of the App's installations the
// caller can access on GitHub, with their token from signing in: all of
// them up to github.DefaultMaxRepos, with api.TruncatedHeader beyond.
func (o *Operator) listGitHubRepos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := o.store.GetGitHubIdentity(ctx, principalFrom(ctx).userID)
	if err != nil {
		if isNotFound(store.Classify(err)) {
			return errNoGitHubAccount
		}
		return err
	}
	c, err := o.githubOAuth(ctx)
	if err != nil {
		return err
	}
	tok, err := o.githubUserToken(ctx, c, id, "")
	if err != nil {
		return err
	}
	repos, truncated, err := c.Repos(ctx, tok)
	if githubUnauthorized(err) { // revoked, or expired before its time
		if tok, err = o.githubUserToken(ctx, c, id, tok); err != nil {
			return err
		}
		repos, truncated, err = c.Repos(ctx, tok)
	}
	if err != nil {
		return &apiError{http.StatusBadGateway, "GitHub did not list your repositories: " + err.Error(),
			"sign in with GitHub again; check that the App is installed on the repositories"}
	}
	out := make([]api.GitHubRepo, 0, len(repos))
	for _, rp := range repos {
		out = append(out, githubRepoJSON(rp))
	}
	if truncated {
		w.Header().Set(api.TruncatedHeader, "true")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func githubRepoJSON(r github.Repo) api.GitHubRepo {
	return api.GitHubRepo{FullName: r.FullName, Private: r.Private, DefaultBranch: r.DefaultBranch}
}
