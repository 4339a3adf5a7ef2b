package github

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// DefaultAPI is github.com's API; GitHub Enterprise has its own.
const DefaultAPI = "https://api.github.com"

// App is a GitHub App acting on its installations. It is safe for
// concurrent use.
type App struct {
	API  string // API base URL, without trailing slash
	ID   int64
	Key  *rsa.PrivateKey
	HTTP *http.Client

	mu     sync.Mutex
	tokens map[int64]installationToken
	now    func() time.Time
	// exchanges shares one token exchange among the callers that miss
	// the cache at the same time (a build's fetch and a status post).
	exchanges singleflight.Group
}

type installationToken struct {
	token   string
	expires time.Time
}

// NewApp returns an App for the API at api (DefaultAPI when empty).
func NewApp(api string, id int64, key *rsa.PrivateKey, client *http.Client) *App {
	if api == "" {
		api = DefaultAPI
	}
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	return &App{API: strings.TrimRight(api, "/"), ID: id, Key: key, HTTP: client,
		tokens: map[int64]installationToken{}, now: time.Now}
}

// ParseKey reads the App's PEM private key as GitHub hands it out.
func ParseKey(pemKey []byte) (*rsa.PrivateKey, error) {
	k, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		return nil, fmt.Errorf("parse github app private key: %w", err)
	}
	return k, nil
}

// JWT signs the App's own token: RS256, issued 60 s in the past against
// clock drift, valid for 9 minutes (GitHub refuses more than 10).
func (a *App) JWT() (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.ID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-60 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.Key)
}

// tokenMargin: a cached installation token is renewed this long before
// it expires, so that no request carries a token about to lapse.
const tokenMargin = 5 * time.Minute

// Token returns an installation token, from the cache while it has more
// than tokenMargin left.
func (a *App) Token(ctx context.Context, installation int64) (string, error) {
	a.mu.Lock()
	t, ok := a.tokens[installation]
	a.mu.Unlock()
	if ok && a.now().Add(tokenMargin).Before(t.expires) {
		return t.token, nil
	}
	// The exchange is not tied to one caller's context: a caller that
	// gives up must not fail the others waiting on the same exchange.
	ch := a.exchanges.DoChan(strconv.FormatInt(installation, 10), func() (any, error) {
		return a.exchange(context.WithoutCancel(ctx), installation)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// exchange trades the App's JWT for a new installation token and caches it.
func (a *App) exchange(ctx context.Context, installation int64) (string, error) {
	appJWT, err := a.JWT()
	if err != nil {
		return "", fmt.Errorf("sign app jwt: %w", err)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	url := fmt.Sprintf("%s/app/installations/%d/access_tokens", a.API, installation)
	if err := a.call(ctx, "POST", url, "Bearer "+appJWT, nil, &out); err != nil {
		return "", fmt.Errorf("installation token for %d: %w", installation, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("installation token for %d: empty token", installation)
	}
	a.mu.Lock()
	a.tokens[installation] = installationToken{out.Token, out.ExpiresAt}
	a.mu.Unlock()
	return out.Token, nil
}

// Status is a commit status.
type Status struct {
	State       string `json:"state"` // pending, success, failure, error
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

// SetStatus posts a commit status on sha of repo.
func (a *App) SetStatus(ctx context.Context, installation int64, repo, sha string, s Status) error {
	tok, err := a.Token(ctx, installation)
	if err != nil {
		return err
	}
	s.Description = clip(s.Description, 140) // GitHub's limit
	url := fmt.Sprintf("%s/repos/%s/statuses/%s", a.API, repo, sha)
	if err := a.call(ctx, "POST", url, "token "+tok, s, nil); err != nil {
		return fmt.Errorf("post status %s on %s@%s: %w", s.State, repo, sha[:min(len(sha), 12)], err)
	}
	return nil
}

// Tarball fetches the tarball (tar.gz) of exactly commit sha, at most
// limit bytes; the API redirects to a download host, which is followed.
func (a *App) Tarball(ctx context.Context, installation int64, repo, sha string, limit int64) ([]byte, error) {
	tok, err := a.Token(ctx, installation)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("%s/repos/%s/tarball/%s", a.API, repo, sha)
	resp, err := a.do(ctx, "GET", url, "token "+tok, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w", repo, sha, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w", repo, sha, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("fetch %s@%s: %w: tarball over %d MiB", repo, sha, ErrTooLarge, limit>>20)
	}
	return body, nil
}

// ErrTooLarge marks a tarball over the build context limit.
var ErrTooLarge = errors.New("repository too large")

// call sends a JSON request and decodes a JSON answer into out (if any).
func (a *App) call(ctx context.Context, method, url, auth string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := a.do(ctx, method, url, auth, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

// do sends one request and turns a non-2xx answer into an error that
// carries GitHub's message but never the credentials.
func (a *App) do(ctx context.Context, method, url, auth string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "zeitwork")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return resp, nil
}

// APIError is a non-2xx answer of the GitHub API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("github api: %d %s", e.Status, clip(e.Message, 200))
}
