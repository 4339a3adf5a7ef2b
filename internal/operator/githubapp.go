package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Seal contexts of the App's secrets: a sealed value only opens under the
// context it was sealed for, so a key cannot be passed off as an env var.
const (
	sealGitHubKey    = "github-app/private-key"
	sealGitHubSecret = "github-app/webhook-secret"
)

// githubCache holds the App built from the stored configuration, kept
// while the row is unchanged so that its installation tokens stay cached.
type githubCache struct {
	mu      sync.Mutex
	updated time.Time
	app     *github.App
	secret  []byte
}

var errNoGitHubApp = &apiError{http.StatusServiceUnavailable, "no GitHub App is configured on this operator",
	"the operator's admin runs `zeitwork github setup`"}

// githubApp returns the configured App and its webhook secret.
func (o *Operator) githubApp(ctx context.Context) (*github.App, []byte, error) {
	row, err := o.store.GetGitHubApp(ctx)
	if err != nil {
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return nil, nil, errNoGitHubApp
		}
		return nil, nil, err
	}
	c := &o.github
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.app != nil && c.updated.Equal(row.UpdatedAt) {
		return c.app, c.secret, nil
	}
	pemKey, err := o.cfg.Sealer.Open(row.PrivateKeySealed, sealGitHubKey)
	if err != nil {
		return nil, nil, fmt.Errorf("open github app key: %w", err)
	}
	secret, err := o.cfg.Sealer.Open(row.WebhookSecretSealed, sealGitHubSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("open github webhook secret: %w", err)
	}
	key, err := github.ParseKey(pemKey)
	if err != nil {
		return nil, nil, err
	}
	c.app = github.NewApp(row.ApiUrl, row.AppID, key, o.cfg.GitHubClient)
	c.secret, c.updated = secret, row.UpdatedAt
	return c.app, c.secret, nil
}

// putGitHubApp stores the App the operator acts as (from `zeitwork github
// setup`); the key and the secrets are sealed before they are stored.
// With the App's OAuth client (client_id and client_secret), users sign
// in with GitHub; a PUT without them keeps the stored client of the same
// App, and only clear_client turns sign-in off.
func (o *Operator) putGitHubApp(w http.ResponseWriter, r *http.Request) error {
	var req api.GitHubApp
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.API == "" {
		req.API = github.DefaultAPI
	}
	if u, err := url.Parse(req.API); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalid("give the API's base URL, e.g. https://github.example.com/api/v3", "invalid api_url %q", req.API)
	}
	if req.AppID <= 0 || req.WebhookSecret == "" {
		return invalid("give app_id, private_key and webhook_secret as GitHub issued them", "app_id and webhook_secret are required")
	}
	if _, err := github.ParseKey([]byte(req.PrivateKey)); err != nil {
		return invalid("give the App's private key in PEM, as GitHub issued it", "%v", err)
	}
	if req.Web == "" {
		req.Web = github.WebURL(req.API)
	}
	if u, err := url.Parse(req.Web); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalid("give GitHub's web URL, e.g. https://github.example.com", "invalid web_url %q", req.Web)
	}
	if (req.ClientID == "") != (req.ClientSecret == "") {
		return invalid("give both client_id and client_secret (the App's settings page shows them), or neither", "client_id and client_secret go together")
	}
	if req.ClearClient && req.ClientID != "" {
		return invalid("give either client_id and client_secret or clear_client", "clear_client drops the client that client_id gives")
	}
	var clientSecret []byte
	if req.ClientSecret != "" {
		clientSecret = o.cfg.Sealer.Seal([]byte(req.ClientSecret), sealGitHubClient)
	}
	err := o.store.Tx(r.Context(), func(q *db.Queries, _ pgx.Tx) error {
		if req.ClientID == "" && !req.ClearClient {
			var err error
			if req.ClientID, clientSecret, err = keptGitHubClient(r.Context(), q, req.AppID); err != nil {
				return err
			}
		}
		err := q.PutGitHubApp(r.Context(), db.PutGitHubAppParams{
			AppID: req.AppID, Slug: req.Slug, ApiUrl: strings.TrimRight(req.API, "/"),
			PrivateKeySealed:    o.cfg.Sealer.Seal([]byte(req.PrivateKey), sealGitHubKey),
			WebhookSecretSealed: o.cfg.Sealer.Seal([]byte(req.WebhookSecret), sealGitHubSecret),
		})
		if err != nil {
			return err
		}
		return q.SetGitHubAppOAuth(r.Context(), db.SetGitHubAppOAuthParams{ClientID: req.ClientID,
			ClientSecretSealed: clientSecret, WebUrl: strings.TrimRight(req.Web, "/")})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.GitHubApp{AppID: req.AppID, Slug: req.Slug, API: req.API, Web: req.Web, ClientID: req.ClientID})
	return nil
}

// keptGitHubClient is the stored OAuth client (its secret still sealed)
// when the stored App is appID: a PUT that leaves the client out keeps
// it, so that storing the App again does not turn sign-in off unseen. A
// client belongs to its App, so a different App starts without one.
func keptGitHubClient(ctx context.Context, q *db.Queries, appID int64) (string, []byte, error) {
	row, err := q.GetGitHubApp(ctx)
	if err != nil {
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return "", nil, nil
		}
		return "", nil, err
	}
	if row.AppID != appID {
		return "", nil, nil
	}
	return row.ClientID, row.ClientSecretSealed, nil
}

// getGitHubApp shows the App without its secrets.
func (o *Operator) getGitHubApp(w http.ResponseWriter, r *http.Request) error {
	row, err := o.store.GetGitHubApp(r.Context())
	if err != nil {
		if errors.Is(store.Classify(err), store.ErrNotFound) {
			return errNoGitHubApp
		}
		return err
	}
	writeJSON(w, http.StatusOK, api.GitHubApp{AppID: row.AppID, Slug: row.Slug, API: row.ApiUrl, Web: row.WebUrl, ClientID: row.ClientID})
	return nil
}

// handle serves an endpoint that authenticates its requests itself.
func (o *Operator) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			o.writeError(w, r, err)
		}
	}
}

// githubCreated is where GitHub sends the browser at the end of the App
// manifest flow, with ?code=... in the address. It tells the user what to
// do with the code and echoes nothing of the request.
func githubCreated(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintln(w, "GitHub created the App. Copy the code from this page's address (after ?code=) into `zeitwork github setup`.")
}
