package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/github/githubtest"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestGitHubSetupAndProjectSource: `github setup` exchanges the manifest
// code at the stand-in and stores the App on the operator (admin token
// or an installation administrator only); `projects create|update` set a project's build source.
func TestGitHubSetupAndProjectSource(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.AdminToken = "admin-secret" })
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_ADMIN_TOKEN", "")
	gh := githubtest.Start(t, githubtest.NewRepo(t).Dir)
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)

	eve, err := operator.Bootstrap(t.Context(), srv.Store, "globex", "eve@globex.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", eve); err == nil ||
		!strings.Contains(err.Error(), "installation's administrators") {
		t.Fatalf("setup with the token of a user who does not administer the installation: %v", err)
	}
	out := mustRun(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret")
	if !strings.Contains(out, "id 4242") || !strings.Contains(out, "Sign-in with GitHub is on") || !strings.Contains(out, "/v1/github/oauth/callback") {
		t.Fatalf("setup: %s", out)
	}
	// The manifest's answer carries the App's OAuth client: sign-in with
	// GitHub is on without another step.
	app, err := srv.Store.GetGitHubApp(t.Context())
	if err != nil || app.AppID != gh.AppID || app.ApiUrl != gh.URL || app.WebUrl != gh.URL || app.ClientID != githubtest.ClientID {
		t.Fatalf("stored app: %+v %v", app, err)
	}
	if strings.Contains(string(app.PrivateKeySealed), "PRIVATE KEY") || strings.Contains(string(app.WebhookSecretSealed), gh.WebhookSecret) ||
		len(app.ClientSecretSealed) == 0 || strings.Contains(string(app.ClientSecretSealed), gh.ClientSecret) {
		t.Fatal("the App's secrets are stored in the clear")
	}
	if _, err := run(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret", "--client-id", "Iv1.x"); err == nil ||
		!strings.Contains(err.Error(), "go together") {
		t.Fatalf("a client ID without its secret: %v", err)
	}
	out = mustRun(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret", "--no-sign-in")
	if app, err := srv.Store.GetGitHubApp(t.Context()); err != nil || app.ClientID != "" || app.ClientSecretSealed != nil ||
		!strings.Contains(out, "Sign-in with GitHub is off") {
		t.Fatalf("--no-sign-in: %s\nstored client %q %v", out, app.ClientID, err)
	}
	if _, err := run(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret",
		"--no-sign-in", "--client-id", "Iv1.x", "--client-secret", "s"); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Fatalf("--no-sign-in with a client: %v", err)
	}
	mustRun(t, "github", "setup", "--github-api", gh.URL, "--code", githubtest.ManifestCode, "--admin-token", "admin-secret")

	out = mustRun(t, "projects", "create", "web", "--repo", "acme/web", "--branch", "prod", "--root-dir", "svc", "--dockerfile", "docker/Dockerfile", "--json")
	for _, want := range []string{`"repo": "acme/web"`, `"production_branch": "prod"`, `"root_dir": "svc"`, `"dockerfile": "docker/Dockerfile"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("create: want %s in\n%s", want, out)
		}
	}
	out = mustRun(t, "projects", "update", "web", "--branch", "main")
	if !strings.Contains(out, "builds acme/web (root svc, docker/Dockerfile); pushes to main go live") {
		t.Fatalf("update: %s", out)
	}
	if _, err := run(t, "projects", "update", "web", "--root-dir", "../etc"); err == nil || !strings.Contains(err.Error(), "invalid root directory") {
		t.Fatalf("root dir outside the repository: %v", err)
	}
}
