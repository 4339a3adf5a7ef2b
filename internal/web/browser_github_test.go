package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// withGitHub gives the operator a GitHub App with an OAuth client, at
// the GitHub stand-in (GitHub is unreachable from CI).
func (e *env) withGitHub() *githubtest.Server {
	e.t.Helper()
	gh := githubtest.Start(e.t, e.t.TempDir())
	app := api.GitHubApp{AppID: gh.AppID, PrivateKey: gh.KeyPEM, WebhookSecret: gh.WebhookSecret, API: gh.URL,
		ClientID: githubtest.ClientID, ClientSecret: gh.ClientSecret}
	if code := e.call("PUT", "/v1/github/app", e.srv.Token, app, nil); code != 200 {
		e.t.Fatalf("put github app: %d", code)
	}
	return gh
}

// TestGitHubSignInBrowser: "Sign in with GitHub" goes to GitHub and back;
// a GitHub user without an account gets the dashboard's explanation, one
// with the user's address verified lands signed in on the projects page,
// where a repository the App reaches becomes a new project's source.
func TestGitHubSignInBrowser(t *testing.T) {
	e := newEnv(t)
	gh := e.withGitHub()
	b := e.newBrowser()

	gh.SetUser(githubtest.User{ID: 9001, Login: "stranger", Emails: []githubtest.Email{{Email: "stranger@example.test", Verified: true}}})
	b.open(t, "/signin", `[data-test=signin-github]`)
	b.click(t, `[data-test=signin-github]`)
	b.waitText(t, `[data-test=error]`, "No Zeitwork account for GitHub user stranger")

	gh.SetUser(githubtest.User{ID: 9002, Login: "dev-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}},
		Installation: 77, Repos: []string{"acme/web", "acme/api"}})
	b.click(t, `[data-test=signin-github]`)
	b.waitText(t, `[data-test=whoami]`, "dev@acme.test")

	// The new-project form lists the repositories; picking one names the
	// project after it and links it.
	b.waitText(t, `[data-test=new-project-repo]`, "acme/web")
	eval[bool](t, b, `(() => { const s = document.querySelector("[data-test=new-project-repo]"); s.value = "acme/web"; s.dispatchEvent(new Event("change")); return true })()`)
	b.click(t, `[data-test=create-project]`)
	b.waitText(t, `[data-test=created-repo]`, "acme/web")
	var p api.Project
	if code := e.call("GET", "/v1/projects/web", e.srv.Token, nil, &p); code != 200 || p.Repo != "acme/web" {
		t.Fatalf("the project the page created: %d %+v", code, p)
	}

	// The account page shows the linked account.
	b.do(t, "open account", chromedp.Navigate(e.srv.URL+"/account"))
	b.waitText(t, `[data-test=github-login]`, "dev-gh")
}

// TestGitHubAcceptInvitationBrowser: an invitation link accepted with
// GitHub makes the invited user, signed in, a member.
func TestGitHubAcceptInvitationBrowser(t *testing.T) {
	e := newEnv(t)
	gh := e.withGitHub()
	var inv api.Invitation
	if code := e.call("POST", "/v1/invitations", e.srv.Token, api.CreateInvitationRequest{Email: "new@acme.test", Role: "developer"}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	gh.SetUser(githubtest.User{ID: 9101, Login: "newcomer", Emails: []githubtest.Email{{Email: "newcomer@example.test", Verified: true}}})
	b := e.newBrowser()
	b.open(t, "/invite?token="+inv.Token, `[data-test=accept-github]`)
	b.click(t, `[data-test=accept-github]`)
	b.waitText(t, `[data-test=whoami]`, "new@acme.test")
	b.waitText(t, `[data-test=joined]`, "acme")
	var members []api.Member
	if code := e.call("GET", "/v1/members", e.srv.Token, nil, &members); code != 200 {
		t.Fatalf("members: %d", code)
	}
	for _, m := range members {
		if m.Email == "new@acme.test" && m.Role == "developer" {
			return
		}
	}
	t.Fatalf("members %+v", members)
}
