package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestGitHubAccountReposUnlink: `github account`, `github repos` and
// `github unlink` do for the user what the dashboard's account page and
// new-project form do, with the GitHub account a sign-in with GitHub
// linked.
func TestGitHubAccountReposUnlink(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.AdminToken = "admin-secret" })
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	gh := githubtest.Start(t, t.TempDir())
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)
	mustRun(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret")

	if _, err := run(t, "github", "repos"); err == nil || !strings.Contains(err.Error(), "no GitHub account is linked") ||
		!strings.Contains(err.Error(), "sign in to the dashboard with GitHub") {
		t.Fatalf("repos before linking: %v", err)
	}
	githubSignIn(t, srv.URL, gh, githubtest.User{ID: 9, Login: "dev-gh", Installation: 5,
		Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}, Repos: []string{"acme/web", "acme/api"}})

	out := mustRun(t, "github", "account")
	if !strings.Contains(out, "LOGIN") || !strings.Contains(out, "dev-gh") || !strings.Contains(out, "yes") {
		t.Fatalf("account:\n%s", out)
	}
	out = mustRun(t, "github", "repos")
	if !strings.Contains(out, "REPOSITORY") || !strings.Contains(out, "acme/web") || !strings.Contains(out, "private") ||
		!strings.Contains(out, "main") {
		t.Fatalf("repos:\n%s", out)
	}
	var repos []api.GitHubRepo
	if err := json.Unmarshal([]byte(mustRun(t, "github", "repos", "--json")), &repos); err != nil || len(repos) != 2 || repos[1].FullName != "acme/api" {
		t.Fatalf("repos --json: %+v %v", repos, err)
	}
	if out := mustRun(t, "github", "unlink"); !strings.Contains(out, "unlinked") {
		t.Fatalf("unlink: %s", out)
	}
	if _, err := run(t, "github", "account"); err == nil || !strings.Contains(err.Error(), "no GitHub account is linked") {
		t.Fatalf("account after unlink: %v", err)
	}
}

// githubSignIn signs u in to the dashboard with GitHub, as a browser
// does, which links u to the user of its verified address.
func githubSignIn(t *testing.T, base string, gh *githubtest.Server, u githubtest.User) {
	t.Helper()
	gh.SetUser(u)
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url, cookie string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	start := get(base+"/v1/github/oauth/start", "")
	var cookie string
	for _, c := range start.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	authorized := get(start.Header.Get("Location"), "")
	if done := get(authorized.Header.Get("Location"), cookie); done.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with GitHub: %d", done.StatusCode)
	}
}
