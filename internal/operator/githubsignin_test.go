package operator_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// ghSignIn is an operator whose GitHub App has an OAuth client, and the
// GitHub stand-in it signs users in with.
type ghSignIn struct {
	*harness
	gh *githubtest.Server
}

func startGitHubSignIn(t *testing.T, tweaks ...func(*operator.Config)) *ghSignIn {
	t.Helper()
	gh := githubtest.Start(t, t.TempDir())
	h := start(t, append([]func(*operator.Config){fastPasswords, func(c *operator.Config) { c.AdminToken = adminToken }}, tweaks...)...)
	var m api.SignInMethods
	if resp, _ := h.send("GET", "/v1/session/methods", nil, nil, &m); resp.StatusCode != 200 || m.GitHub {
		t.Fatalf("sign-in methods without a client: %d %+v", resp.StatusCode, m)
	}
	app := api.GitHubApp{AppID: gh.AppID, PrivateKey: gh.KeyPEM, WebhookSecret: gh.WebhookSecret, API: gh.URL,
		ClientID: githubtest.ClientID, ClientSecret: gh.ClientSecret}
	if code := h.call("PUT", "/v1/github/app", adminToken, app, nil); code != 200 {
		t.Fatalf("put github app: %d", code)
	}
	if resp, _ := h.send("GET", "/v1/session/methods", nil, nil, &m); resp.StatusCode != 200 || !m.GitHub || m.GitHubURL == "" {
		t.Fatalf("sign-in methods with a client: %d %+v", resp.StatusCode, m)
	}
	return &ghSignIn{harness: h, gh: gh}
}

// noRedirects is a browser that shows each redirect to the test.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (f *ghSignIn) get(rawURL, cookie string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// authorize starts a sign-in and lets GitHub approve it: it answers the
// state cookie the browser holds and the callback URL GitHub sent it to.
func (f *ghSignIn) authorize(invitation string) (stateCookie, callback string) {
	f.t.Helper()
	start := f.url + "/v1/github/oauth/start"
	if invitation != "" {
		start += "?invitation=" + url.QueryEscape(invitation)
	}
	resp := f.get(start, "")
	if resp.StatusCode != http.StatusFound {
		f.t.Fatalf("start: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "zw_github_state" {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
				f.t.Fatalf("state cookie %+v", c)
			}
			stateCookie = c.Name + "=" + c.Value
		}
	}
	auth := resp.Header.Get("Location")
	if stateCookie == "" || !strings.HasPrefix(auth, f.gh.URL+"/login/oauth/authorize?") {
		f.t.Fatalf("start set cookie %q, sent the browser to %q", stateCookie, auth)
	}
	resp = f.get(auth, "")
	callback = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, f.url+"/v1/github/oauth/callback?") {
		f.t.Fatalf("authorize: %d to %q", resp.StatusCode, callback)
	}
	return stateCookie, callback
}

// signInGitHub runs the flow as u; it answers the callback's response
// and, if it signed in, the browser with its session.
func (f *ghSignIn) signInGitHub(u githubtest.User, invitation string) (*http.Response, *browser) {
	f.t.Helper()
	f.gh.SetUser(u)
	cookie, callback := f.authorize(invitation)
	resp := f.get(callback, cookie)
	return resp, f.sessionOf(resp)
}

func (f *ghSignIn) sessionOf(resp *http.Response) *browser {
	f.t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie && c.Value != "" {
			b := &browser{h: f.harness, cookie: c.Value, header: http.Header{}}
			var s api.Session
			if code := b.do("GET", "/v1/session", nil, &s); code != 200 {
				f.t.Fatalf("the new session: %d", code)
			}
			b.csrf = s.CSRFToken
			return b
		}
	}
	return nil
}

// failedWith checks a callback that did not sign in: its status, and the
// dashboard page it sends the browser to.
func failedWith(t *testing.T, resp *http.Response, b *browser, status int, code string) {
	t.Helper()
	if b != nil || resp.StatusCode != status {
		t.Fatalf("callback: %d (want %d), session %v", resp.StatusCode, status, b != nil)
	}
	page, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(page), "/signin?github_error="+code) {
		t.Fatalf("failure page does not send the browser on with %s: %s", code, page)
	}
}

func (f *ghSignIn) email(b *browser) string {
	f.t.Helper()
	var s api.Session
	if code := b.do("GET", "/v1/session", nil, &s); code != 200 {
		f.t.Fatalf("get session: %d", code)
	}
	return s.User.Email
}

func (f *ghSignIn) linked(email string) (login string) {
	f.t.Helper()
	f.store.Pool.QueryRow(context.Background(),
		"SELECT g.login FROM github_identities g JOIN users u ON u.id = g.user_id WHERE u.email = $1", email).Scan(&login)
	return login
}

// TestGitHubSignInVerifiedEmailOnly: an account whose matching address is
// not verified links to no one and signs in no one; one with the address
// verified links to its user and signs in, and later signs in by its ID
// whatever its addresses are then.
func TestGitHubSignInVerifiedEmailOnly(t *testing.T) {
	f := startGitHubSignIn(t)
	sneaky := githubtest.User{ID: 101, Login: "sneaky", Emails: []githubtest.Email{
		{Email: "dev@acme.test", Verified: false, Primary: true}, {Email: "sneaky@example.test", Verified: true}}}
	resp, b := f.signInGitHub(sneaky, "")
	failedWith(t, resp, b, http.StatusForbidden, "no_account")
	if l := f.linked("dev@acme.test"); l != "" {
		t.Fatalf("an unverified address linked %s", l)
	}
	if n := f.count("SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("a sign-in without account made users: %d", n)
	}

	dev := githubtest.User{ID: 202, Login: "dev-gh", Emails: []githubtest.Email{{Email: "Dev@Acme.test", Verified: true, Primary: true}},
		Installation: 77, Repos: []string{"acme/web", "acme/api"}}
	resp, b = f.signInGitHub(dev, "")
	if b == nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign-in with a verified address: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e := f.email(b); e != "dev@acme.test" || f.linked("dev@acme.test") != "dev-gh" {
		t.Fatalf("signed in as %q, linked %q", e, f.linked("dev@acme.test"))
	}
	var id api.GitHubIdentity
	if code := b.do("GET", "/v1/user/github", nil, &id); code != 200 || id.Login != "dev-gh" || id.ID != 202 || !id.CanListRepos {
		t.Fatalf("linked account: %d %+v", code, id)
	}
	var repos []api.GitHubRepo
	if code := b.do("GET", "/v1/github/repositories", nil, &repos); code != 200 || len(repos) != 2 || repos[0].FullName != "acme/web" {
		t.Fatalf("repositories: %d %+v", code, repos)
	}
	// Linked: the ID signs in, with no address at all.
	dev.Emails = nil
	if resp, b := f.signInGitHub(dev, ""); b == nil {
		t.Fatalf("sign-in of the linked account: %d", resp.StatusCode)
	}
	f.checkAudit("session.sign_in_github", "github.link")
	// Unlinked, it signs in no one (it has no verified address now).
	if code := b.do("DELETE", "/v1/user/github", nil, nil); code != http.StatusNoContent {
		t.Fatalf("unlink: %d", code)
	}
	resp, b2 := f.signInGitHub(dev, "")
	failedWith(t, resp, b2, http.StatusForbidden, "no_account")
	f.checkAudit("github.unlink")
}

func (f *ghSignIn) count(query string) (n int) {
	f.t.Helper()
	if err := f.store.Pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestGitHubSignInOneAccountPerUser: a second GitHub account with the
// same verified address cannot take a user another account is linked to.
func TestGitHubSignInOneAccountPerUser(t *testing.T) {
	f := startGitHubSignIn(t)
	first := githubtest.User{ID: 301, Login: "first", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}}
	if resp, b := f.signInGitHub(first, ""); b == nil {
		t.Fatalf("first account: %d", resp.StatusCode)
	}
	second := githubtest.User{ID: 302, Login: "second", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}}
	resp, b := f.signInGitHub(second, "")
	failedWith(t, resp, b, http.StatusConflict, "taken")
	if l := f.linked("dev@acme.test"); l != "first" {
		t.Fatalf("linked %q", l)
	}
	if n := f.count("SELECT count(*) FROM github_identities"); n != 1 {
		t.Fatalf("identities: %d", n)
	}
}

// TestGitHubSignInState: the callback needs the state of a sign-in this
// browser started (login CSRF: an attacker's callback URL in a victim's
// browser signs in no one), and each state works once.
func TestGitHubSignInState(t *testing.T) {
	f := startGitHubSignIn(t)
	f.gh.SetUser(githubtest.User{ID: 401, Login: "dev-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}})
	mine, _ := f.authorize("")
	_, attackers := f.authorize("") // the attacker's own flow, stopped at the callback
	resp := f.get(attackers, mine)
	failedWith(t, resp, f.sessionOf(resp), http.StatusForbidden, "state")
	resp = f.get(attackers, "")
	failedWith(t, resp, f.sessionOf(resp), http.StatusForbidden, "state")
	// The right cookie and state sign in, once.
	cookie, callback := f.authorize("")
	resp = f.get(callback, cookie)
	if f.sessionOf(resp) == nil {
		t.Fatalf("matching state: %d", resp.StatusCode)
	}
	resp = f.get(callback, cookie)
	failedWith(t, resp, f.sessionOf(resp), http.StatusForbidden, "state")
	if loc := resp.Header.Get("Content-Type"); !strings.HasPrefix(loc, "text/html") {
		t.Fatalf("failure page type %q", loc)
	}
}

// TestGitHubSignInCodeReplay: a code that signed in once signs in no one
// again, even with a fresh state of the same browser.
func TestGitHubSignInCodeReplay(t *testing.T) {
	f := startGitHubSignIn(t)
	f.gh.SetUser(githubtest.User{ID: 501, Login: "dev-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}})
	cookie, callback := f.authorize("")
	if resp := f.get(callback, cookie); f.sessionOf(resp) == nil {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	used, _ := url.Parse(callback)
	cookie2, callback2 := f.authorize("")
	fresh, _ := url.Parse(callback2)
	q := fresh.Query()
	q.Set("code", used.Query().Get("code"))
	fresh.RawQuery = q.Encode()
	resp := f.get(fresh.String(), cookie2)
	failedWith(t, resp, f.sessionOf(resp), http.StatusUnauthorized, "failed")
}

// TestGitHubSignInInvitation: an invitation accepted with GitHub makes
// the invited user (the token is the credential, as with a password),
// linked, a member with the invited role, signed in; an invitation for
// an existing user needs that user's address verified on the account.
func TestGitHubSignInInvitation(t *testing.T) {
	f := startGitHubSignIn(t)
	invite := func(email, role string) string {
		var inv api.Invitation
		if code := f.call("POST", "/v1/invitations", f.token, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
			t.Fatalf("invite: %d", code)
		}
		return inv.Token
	}
	newcomer := githubtest.User{ID: 601, Login: "newcomer", Emails: []githubtest.Email{{Email: "private@example.test", Verified: true}}}
	resp, b := f.signInGitHub(newcomer, invite("new@acme.test", "developer"))
	if b == nil || resp.Header.Get("Location") != "/?joined=acme" {
		t.Fatalf("accept with github: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var s api.Session
	if b.do("GET", "/v1/session", nil, &s); s.User.Email != "new@acme.test" || s.Role != "developer" || f.linked("new@acme.test") != "newcomer" {
		t.Fatalf("session %+v, linked %q", s, f.linked("new@acme.test"))
	}
	f.checkAudit("invitation.accept", "session.sign_in_github")
	// Spent: the same token does nothing more.
	other := githubtest.User{ID: 602, Login: "other", Emails: []githubtest.Email{{Email: "other@example.test", Verified: true}}}
	resp, b = f.signInGitHub(other, "")
	failedWith(t, resp, b, http.StatusForbidden, "no_account")

	// An invitation for an existing user, taken by an account that does
	// not verify that user's address: refused, nothing linked.
	f.memberWithPassword("member@acme.test", "viewer")
	tok := invite("member@acme.test", "admin")
	unverified := githubtest.User{ID: 603, Login: "unverified", Emails: []githubtest.Email{{Email: "member@acme.test", Verified: false}}}
	resp, b = f.signInGitHub(unverified, tok)
	failedWith(t, resp, b, http.StatusForbidden, "invitation_other")
	if f.linked("member@acme.test") != "" {
		t.Fatal("an unverified address linked through an invitation")
	}
	verified := githubtest.User{ID: 604, Login: "member-gh", Emails: []githubtest.Email{{Email: "member@acme.test", Verified: true}}}
	resp, b = f.signInGitHub(verified, tok)
	if b == nil {
		t.Fatalf("accept for an existing user with the address verified: %d", resp.StatusCode)
	}
	if b.do("GET", "/v1/session", nil, &s); s.User.Email != "member@acme.test" || s.Role != "admin" {
		t.Fatalf("session %+v", s)
	}
}

// TestGitHubSignInRateLimited: failed callbacks count towards the
// client's sign-in limit.
func TestGitHubSignInRateLimited(t *testing.T) {
	f := startGitHubSignIn(t, func(c *operator.Config) { c.Sessions.AddrFailures = 2 })
	f.gh.SetUser(githubtest.User{ID: 701, Login: "dev-gh", Emails: []githubtest.Email{{Email: "dev@acme.test", Verified: true}}})
	_, callback := f.authorize("")
	for range 2 {
		resp := f.get(callback, "")
		failedWith(t, resp, f.sessionOf(resp), http.StatusForbidden, "state")
	}
	cookie, callback := f.authorize("")
	resp := f.get(callback, cookie)
	failedWith(t, resp, f.sessionOf(resp), http.StatusTooManyRequests, "rate_limited")
	if _, resp, _ := f.signIn("dev@acme.test", "wrong password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("password sign-in from the limited client: %d", resp.StatusCode)
	}
	// Starting needs no credential: a client has only so many under way.
	for started := f.count("SELECT count(*) FROM github_oauth_states"); started < 20; started++ {
		if resp := f.get(f.url+"/v1/github/oauth/start", ""); resp.StatusCode != http.StatusFound {
			t.Fatalf("start %d: %d", started+1, resp.StatusCode)
		}
	}
	resp = f.get(f.url+"/v1/github/oauth/start", "")
	failedWith(t, resp, nil, http.StatusTooManyRequests, "rate_limited")
}
