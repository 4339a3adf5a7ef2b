package operator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// A user's GitHub token from signing in expires after 8 hours; its
// refresh token (6 months, spent on use) gets a new pair, so that the
// repository list works until the user revokes the App's authorization.

const sealGitHubRefresh = "github-user/refresh"

var errGitHubSignInExpired = conflict("sign out and sign in with GitHub again", "your GitHub sign-in has expired")

// githubTokenLive: the access token is stored and unexpired.
func githubTokenLive(id db.GithubIdentity) bool {
	return id.TokenSealed != nil && (id.TokenExpiresAt == nil || time.Now().Before(*id.TokenExpiresAt))
}

// githubRefreshLive: a refresh token is stored and unexpired.
func githubRefreshLive(id db.GithubIdentity) bool {
	return id.RefreshSealed != nil && (id.RefreshExpiresAt == nil || time.Now().Before(*id.RefreshExpiresAt))
}

// githubTokenParams seals a user's tokens for storing.
func (o *Operator) githubTokenParams(user uuid.UUID, login string, t github.UserToken) db.SetGitHubIdentityTokenParams {
	p := db.SetGitHubIdentityTokenParams{UserID: user, Login: login,
		TokenSealed: o.cfg.Sealer.Seal([]byte(t.Token), sealGitHubToken+"/"+user.String())}
	if !t.Expires.IsZero() {
		p.TokenExpiresAt = &t.Expires
	}
	if t.Refresh != "" {
		p.RefreshSealed = o.cfg.Sealer.Seal([]byte(t.Refresh), sealGitHubRefresh+"/"+user.String())
		if !t.RefreshExpires.IsZero() {
			p.RefreshExpiresAt = &t.RefreshExpires
		}
	}
	return p
}

// githubUserToken is the user's GitHub token, refreshed first when it has
// expired or when it is stale (GitHub refused it). The refresh holds the
// user's row: GitHub spends a refresh token on first use, so a second
// request (or operator) waits and takes the new token instead.
func (o *Operator) githubUserToken(ctx context.Context, c *github.OAuth, id db.GithubIdentity, stale string) (string, error) {
	if stale == "" && githubTokenLive(id) {
		tok, err := o.cfg.Sealer.Open(id.TokenSealed, sealGitHubToken+"/"+id.UserID.String())
		return string(tok), err
	}
	var tok string
	var refused bool
	err := o.store.Tx(ctx, func(q *db.Queries, _ pgx.Tx) error {
		id, err := q.LockGitHubIdentity(ctx, id.UserID)
		if err != nil {
			if isNotFound(store.Classify(err)) {
				return errNoGitHubAccount // unlinked meanwhile
			}
			return err
		}
		if githubTokenLive(id) {
			t, err := o.cfg.Sealer.Open(id.TokenSealed, sealGitHubToken+"/"+id.UserID.String())
			if err != nil {
				return err
			}
			if tok = string(t); tok != stale {
				return nil // unexpired, or refreshed meanwhile
			}
		}
		if !githubRefreshLive(id) {
			refused = true
			return q.ClearGitHubIdentityTokens(ctx, id.UserID)
		}
		refresh, err := o.cfg.Sealer.Open(id.RefreshSealed, sealGitHubRefresh+"/"+id.UserID.String())
		if err != nil {
			return err
		}
		t, err := c.Refresh(ctx, string(refresh))
		if errors.Is(err, github.ErrRefreshRefused) {
			refused = true
			return q.ClearGitHubIdentityTokens(ctx, id.UserID)
		}
		if err != nil {
			return &apiError{http.StatusBadGateway, "GitHub did not renew your GitHub token: " + err.Error(), "try again in a minute"}
		}
		tok = t.Token
		return q.SetGitHubIdentityToken(ctx, o.githubTokenParams(id.UserID, id.Login, t))
	})
	if err != nil {
		return "", err
	}
	if refused {
		return "", errGitHubSignInExpired
	}
	return tok, nil
}

// githubUnauthorized: GitHub refused the token itself (401).
func githubUnauthorized(err error) bool {
	var ae *github.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized
}
