package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// TestGitHubTokenRefresh: once the GitHub token from signing in has
// expired (8 hours), or GitHub refuses it earlier, the repository list
// renews it with the refresh token (kept sealed), once however many lists
// ask at the same time; a refused refresh token asks for a new sign-in.
func TestGitHubTokenRefresh(t *testing.T) {
	f := startGitHubSignIn(t)
	ctx := context.Background()
	dev := githubtest.User{ID: 303, Login: "dev-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true, Primary: true}},
		Installation: 77, Repos: []string{"acme/web"}}
	_, b := f.signInGitHub(dev, "")
	if b == nil {
		t.Fatal("sign-in with GitHub failed")
	}
	list := func() (int, string) {
		t.Helper()
		var out json.RawMessage
		code := b.do("GET", "/v1/github/repositories", nil, &out)
		return code, string(out)
	}
	expireStored := func() {
		t.Helper()
		if _, err := f.store.Pool.Exec(ctx, "UPDATE github_identities SET token_expires_at = now() - interval '1 minute'"); err != nil {
			t.Fatal(err)
		}
	}
	var sealed []byte
	if err := f.store.Pool.QueryRow(ctx, "SELECT refresh_sealed FROM github_identities").Scan(&sealed); err != nil || len(sealed) == 0 ||
		strings.Contains(string(sealed), "ghr_") {
		t.Fatalf("refresh token not kept, or kept in the clear: %q %v", sealed, err)
	}

	// Eight hours later, by the operator's clock and GitHub's.
	f.gh.ExpireUserTokens()
	expireStored()
	if code, out := list(); code != 200 || !strings.Contains(out, "acme/web") || f.gh.Refreshes() != 1 {
		t.Fatalf("list after expiry: %d %s, %d refreshes", code, out, f.gh.Refreshes())
	}
	// GitHub refuses the token before its stored expiry: renewed too.
	f.gh.ExpireUserTokens()
	if code, out := list(); code != 200 || !strings.Contains(out, "acme/web") || f.gh.Refreshes() != 2 {
		t.Fatalf("list after GitHub refused the token: %d %s, %d refreshes", code, out, f.gh.Refreshes())
	}
	// Lists at the same time spend the single-use refresh token once.
	f.gh.ExpireUserTokens()
	expireStored()
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", f.url+"/v1/github/repositories", nil)
			req.Header.Set("Cookie", api.SessionCookie+"="+b.cookie)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, c := range codes {
		if c != 200 {
			t.Fatalf("concurrent lists: %v", codes)
		}
	}
	if n := f.gh.Refreshes(); n != 3 {
		t.Fatalf("concurrent lists refreshed %d times in all, want 3", n)
	}

	// The user revoked the App's authorization: sign in again.
	f.gh.ExpireUserTokens()
	f.gh.RevokeRefreshTokens()
	expireStored()
	if code, out := list(); code != http.StatusConflict || !strings.Contains(out, "sign in with GitHub again") {
		t.Fatalf("list with a refused refresh token: %d %s", code, out)
	}
	var id api.GitHubIdentity
	if code := b.do("GET", "/v1/user/github", nil, &id); code != 200 || id.CanListRepos {
		t.Fatalf("linked account after a refused refresh: %d %+v", code, id)
	}
	// A new sign-in lists again.
	if _, b = f.signInGitHub(dev, ""); b == nil {
		t.Fatal("second sign-in failed")
	}
	if code, out := list(); code != 200 || !strings.Contains(out, "acme/web") {
		t.Fatalf("list after signing in again: %d %s", code, out)
	}
}

// TestGitHubReposEveryPage: the repository list holds every repository
// the user reaches, page after page, up to 5000, and says when there are
// more (the header), not only the first 500.
func TestGitHubReposEveryPage(t *testing.T) {
	f := startGitHubSignIn(t)
	dev := githubtest.User{ID: 404, Login: "big-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}, Installation: 78}
	for i := range github.DefaultMaxRepos + 1 {
		dev.Repos = append(dev.Repos, fmt.Sprintf("acme/r%04d", i))
	}
	_, b := f.signInGitHub(dev, "")
	if b == nil {
		t.Fatal("sign-in with GitHub failed")
	}
	var repos []api.GitHubRepo
	hdr := http.Header{"Cookie": {api.SessionCookie + "=" + b.cookie}}
	resp, _ := f.send("GET", "/v1/github/repositories", hdr, nil, &repos)
	if resp.StatusCode != 200 || len(repos) != github.DefaultMaxRepos || repos[len(repos)-1].FullName != "acme/r4999" ||
		resp.Header.Get(api.TruncatedHeader) != "true" {
		t.Fatalf("repositories: %d, %d of them, truncated %q", resp.StatusCode, len(repos), resp.Header.Get(api.TruncatedHeader))
	}
}
