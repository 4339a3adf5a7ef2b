package operator_test

import (
	"net/http"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// TestGitHubAppPutKeepsClient: storing the App again without its OAuth
// client (a key rotation, a new webhook secret) keeps sign-in with
// GitHub on; only clear_client, or another App, turns it off.
func TestGitHubAppPutKeepsClient(t *testing.T) {
	f := startGitHubSignIn(t)
	gh := f.gh
	methods := func() bool {
		t.Helper()
		var m api.SignInMethods
		if resp, _ := f.send("GET", "/v1/session/methods", nil, nil, &m); resp.StatusCode != 200 {
			t.Fatalf("sign-in methods: %d", resp.StatusCode)
		}
		return m.GitHub
	}
	app := api.GitHubApp{AppID: gh.AppID, PrivateKey: gh.KeyPEM, WebhookSecret: "rotated", API: gh.URL}
	var got api.GitHubApp
	if code := f.call("PUT", "/v1/github/app", adminToken, app, &got); code != 200 || got.ClientID != githubtest.ClientID {
		t.Fatalf("put without the client: %d %+v", code, got)
	}
	if !methods() {
		t.Fatal("a PUT without the client turned sign-in with GitHub off")
	}
	// The kept client still works: its secret was kept, not only its ID.
	if resp, b := f.signInGitHub(githubtest.User{ID: 7, Login: "nobody-gh"}, ""); resp.StatusCode != http.StatusForbidden || b != nil {
		t.Fatalf("sign-in after the PUT: %d (want 403 no_account, not a broken client)", resp.StatusCode)
	}

	both := app
	both.ClientID, both.ClientSecret, both.ClearClient = githubtest.ClientID, gh.ClientSecret, true
	if code := f.call("PUT", "/v1/github/app", adminToken, both, nil); code != http.StatusBadRequest {
		t.Fatalf("a client and clear_client: %d", code)
	}
	other := app
	other.AppID = gh.AppID + 1
	got = api.GitHubApp{}
	if code := f.call("PUT", "/v1/github/app", adminToken, other, &got); code != 200 || got.ClientID != "" || methods() {
		t.Fatalf("another App kept the old App's client: %d %+v", code, got)
	}
	if code := f.call("PUT", "/v1/github/app", adminToken, both, nil); code != http.StatusBadRequest {
		t.Fatalf("a client and clear_client: %d", code)
	}
	app.ClientID, app.ClientSecret = githubtest.ClientID, gh.ClientSecret
	if code := f.call("PUT", "/v1/github/app", adminToken, app, nil); code != 200 || !methods() {
		t.Fatalf("put with the client: %d", code)
	}
	app.ClientID, app.ClientSecret, app.ClearClient = "", "", true
	got = api.GitHubApp{}
	if code := f.call("PUT", "/v1/github/app", adminToken, app, &got); code != 200 || got.ClientID != "" || methods() {
		t.Fatalf("clear_client left sign-in on: %d %+v", code, got)
	}
}
