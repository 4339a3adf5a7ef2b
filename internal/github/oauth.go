package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultWeb is github.com's web host, where browsers authorize.
const DefaultWeb = "https://github.com"

// WebURL is the web host of the API at api: github.com for
// api.github.com, the same scheme and host (without /api/v3) otherwise.
func WebURL(api string) string {
	if api == "" || api == DefaultAPI {
		return DefaultWeb
	}
	u, err := url.Parse(api)
	if err != nil || u.Host == "" {
		return DefaultWeb
	}
	return u.Scheme + "://" + u.Host
}

// OAuth is the App's OAuth client: it signs users in with GitHub (the
// web application flow of a GitHub App) and acts for them with the token
// it gets.
type OAuth struct {
	Web, API     string // without trailing slash
	ClientID     string
	ClientSecret string
	HTTP         *http.Client
	// MaxRepos bounds Repos (default DefaultMaxRepos).
	MaxRepos int
}

// AuthorizeURL is where the browser goes to let the user authorize the
// App; GitHub sends it back to redirect with ?code=...&state=state.
func (c *OAuth) AuthorizeURL(redirect, state string) string {
	q := url.Values{"client_id": {c.ClientID}, "redirect_uri": {redirect}, "state": {state}}
	return c.Web + "/login/oauth/authorize?" + q.Encode()
}

// UserToken is a user's token for the App; Expires is zero when GitHub
// set none. A token that expires (8 hours) comes with a refresh token
// (6 months, RefreshExpires), which Refresh trades for a new pair.
type UserToken struct {
	Token          string
	Expires        time.Time
	Refresh        string
	RefreshExpires time.Time
}

// ErrRefreshRefused is GitHub refusing a refresh token (used, revoked,
// expired, or the user took back the App's authorization): only a new
// sign-in gives a new token.
var ErrRefreshRefused = errors.New("github refused the refresh token")

// Exchange trades the code of a callback for the user's token. GitHub
// answers a bad, used or expired code with 200 and an error field.
func (c *OAuth) Exchange(ctx context.Context, code, redirect string) (UserToken, error) {
	t, err := c.token(ctx, url.Values{"code": {code}, "redirect_uri": {redirect}})
	if err != nil {
		return t, fmt.Errorf("exchange github code: %w", err)
	}
	return t, nil
}

// Refresh trades a refresh token for a new token and a new refresh
// token; GitHub spends the old one.
func (c *OAuth) Refresh(ctx context.Context, refresh string) (UserToken, error) {
	t, err := c.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if err != nil {
		return t, fmt.Errorf("refresh github user token: %w", err)
	}
	return t, nil
}

// token asks GitHub's token endpoint for a user token with form.
func (c *OAuth) token(ctx context.Context, form url.Values) (UserToken, error) {
	form.Set("client_id", c.ClientID)
	form.Set("client_secret", c.ClientSecret)
	req, err := http.NewRequestWithContext(ctx, "POST", c.Web+"/login/oauth/access_token", strings.NewReader(form.Encode()))
	if err != nil {
		return UserToken{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "zeitwork")
	resp, err := c.client().Do(req)
	if err != nil {
		return UserToken{}, err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int64  `json:"expires_in"`
		RefreshToken     string `json:"refresh_token"`
		RefreshExpiresIn int64  `json:"refresh_token_expires_in"`
		Error            string `json:"error"`
		Description      string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return UserToken{}, fmt.Errorf("%d: %w", resp.StatusCode, err)
	}
	if out.Error == "bad_refresh_token" {
		return UserToken{}, fmt.Errorf("%w: %s", ErrRefreshRefused, clip(out.Description, 200))
	}
	if resp.StatusCode/100 != 2 || out.Error != "" || out.AccessToken == "" {
		return UserToken{}, fmt.Errorf("%d %s %s", resp.StatusCode, out.Error, clip(out.Description, 200))
	}
	t := UserToken{Token: out.AccessToken, Refresh: out.RefreshToken}
	now := time.Now()
	if out.ExpiresIn > 0 {
		t.Expires = now.Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	if out.RefreshExpiresIn > 0 {
		t.RefreshExpires = now.Add(time.Duration(out.RefreshExpiresIn) * time.Second)
	}
	return t, nil
}

func (c *OAuth) client() *http.Client {
	if c.HTTP == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return c.HTTP
}

// api is an App value that only sends requests (App.call) for the user.
func (c *OAuth) api() *App { return &App{API: c.API, HTTP: c.client()} }

// User is a GitHub account.
type User struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
}

// Email is one of a user's e-mail addresses; only a verified one proves
// the user owns it.
type Email struct {
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
	Primary  bool   `json:"primary"`
}

// User reads the account the token belongs to.
func (c *OAuth) User(ctx context.Context, token string) (User, error) {
	var u User
	if err := c.api().call(ctx, "GET", c.API+"/user", "Bearer "+token, nil, &u); err != nil {
		return u, fmt.Errorf("read github user: %w", err)
	}
	if u.ID == 0 || u.Login == "" {
		return u, fmt.Errorf("read github user: no id or login")
	}
	return u, nil
}

// Emails reads the user's addresses (the App needs the "Email addresses"
// account permission).
func (c *OAuth) Emails(ctx context.Context, token string) ([]Email, error) {
	var e []Email
	if err := c.api().call(ctx, "GET", c.API+"/user/emails?per_page=100", "Bearer "+token, nil, &e); err != nil {
		return nil, fmt.Errorf("read github user emails: %w", err)
	}
	return e, nil
}

// Repo is a repository the App can reach for a user.
type Repo struct {
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
	Installation  int64  `json:"installation_id"`
}

// DefaultMaxRepos bounds a listing (OAuth.MaxRepos): 50 pages of GitHub's
// 100, enough for a picker, few enough to answer in seconds.
const DefaultMaxRepos = 5000

// perPage is GitHub's largest page.
const perPage = 100

// Repos lists the repositories of the App's installations the user can
// access (GitHub filters both by the user's own access), every page of
// them up to MaxRepos; truncated says that there were more.
func (c *OAuth) Repos(ctx context.Context, token string) (repos []Repo, truncated bool, err error) {
	max := c.MaxRepos
	if max <= 0 {
		max = DefaultMaxRepos
	}
	insts, err := c.installations(ctx, token)
	if err != nil {
		return nil, false, err
	}
	for _, id := range insts {
		for page := 1; ; page++ {
			if len(repos) >= max {
				return repos[:max], true, nil
			}
			var rs struct {
				Total        int    `json:"total_count"`
				Repositories []Repo `json:"repositories"`
			}
			u := fmt.Sprintf("%s/user/installations/%d/repositories?per_page=%d&page=%d", c.API, id, perPage, page)
			if err := c.api().call(ctx, "GET", u, "Bearer "+token, nil, &rs); err != nil {
				return nil, false, fmt.Errorf("list repositories of installation %d: %w", id, err)
			}
			for _, r := range rs.Repositories {
				r.Installation = id
				repos = append(repos, r)
			}
			if len(rs.Repositories) < perPage || (rs.Total > 0 && page*perPage >= rs.Total) {
				break
			}
		}
	}
	if len(repos) > max {
		return repos[:max], true, nil
	}
	return repos, false, nil
}

// maxInstallationPages bounds the installations read (100 a page).
const maxInstallationPages = 10

// installations lists the IDs of the App's installations the user can
// access.
func (c *OAuth) installations(ctx context.Context, token string) ([]int64, error) {
	var ids []int64
	for page := 1; page <= maxInstallationPages; page++ {
		var inst struct {
			Total         int `json:"total_count"`
			Installations []struct {
				ID int64 `json:"id"`
			} `json:"installations"`
		}
		u := fmt.Sprintf("%s/user/installations?per_page=%d&page=%d", c.API, perPage, page)
		if err := c.api().call(ctx, "GET", u, "Bearer "+token, nil, &inst); err != nil {
			return nil, fmt.Errorf("list github installations: %w", err)
		}
		for _, i := range inst.Installations {
			ids = append(ids, i.ID)
		}
		if len(inst.Installations) < perPage || (inst.Total > 0 && page*perPage >= inst.Total) {
			break
		}
	}
	return ids, nil
}
