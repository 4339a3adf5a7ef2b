package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// With ZEITWORK_TEST_CLI=1 the test binary is the zeitwork CLI, so that
// git can run it as its credential helper (git-remote add points git at
// os.Executable()).
func init() {
	if os.Getenv("ZEITWORK_TEST_CLI") == "1" {
		root := &cobra.Command{Use: "zeitwork", SilenceUsage: true}
		root.AddCommand(Commands()...)
		root.SetArgs(os.Args[1:])
		if root.ExecuteContext(context.Background()) != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestGitRemoteAddAndCredentialHelper(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.GitDir = t.TempDir() })
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", "")
	t.Setenv("ZEITWORK_TOKEN", "")
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_TERMINAL_PROMPT", "0")
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)
	remote := srv.URL + "/git/web.git"
	if out := mustRun(t, "projects", "create", "web"); !strings.Contains(out, "Git remote: "+remote) {
		t.Fatalf("create does not print the remote:\n%s", out)
	}

	repo := t.TempDir()
	gitIn := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := gitIn(nil, "init", "--quiet"); err != nil {
		t.Fatal(out)
	}
	t.Chdir(repo)
	if _, err := run(t, "git-remote", "add", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("remote of a missing project: %v", err)
	}
	out := mustRun(t, "git-remote", "add", "web")
	if !strings.Contains(out, "git push zeitwork main") {
		t.Fatalf("add:\n%s", out)
	}
	if got, _ := gitIn(nil, "remote", "get-url", "zeitwork"); got != remote {
		t.Fatalf("remote url %q, want %q", got, remote)
	}
	cfg, _ := os.ReadFile(filepath.Join(repo, ".git", "config"))
	if strings.Contains(string(cfg), srv.Token) {
		t.Fatalf("the token is in .git/config:\n%s", cfg)
	}
	if _, err := run(t, "git-remote", "add", "web"); err == nil || !strings.Contains(err.Error(), "set-url") {
		t.Fatalf("adding the remote twice: %v", err)
	}

	// git authenticates through the helper: without it the remote is 401.
	if out, err := gitIn([]string{"ZEITWORK_TEST_CLI=1"}, "ls-remote", "zeitwork"); err != nil {
		t.Fatalf("ls-remote through the credential helper: %v\n%s", err, out)
	}
	if out, err := gitIn([]string{"ZEITWORK_TEST_CLI=1", "ZEITWORK_TOKEN=zw_wrong"}, "ls-remote", "zeitwork"); err == nil || !strings.Contains(out, "401") && !strings.Contains(out, "Authentication failed") {
		t.Fatalf("ls-remote with a wrong token: %v\n%s", err, out)
	}

	// The helper gives the token to the operator's host only.
	for _, tc := range []struct {
		in, want string
	}{
		{"protocol=http\nhost=" + strings.TrimPrefix(srv.URL, "http://") + "\n\n", "username=zeitwork\npassword=" + srv.Token + "\n"},
		{"protocol=http\nhost=evil.example\n\n", ""},
		{"protocol=https\nhost=" + strings.TrimPrefix(srv.URL, "http://") + "\n\n", ""},
	} {
		root := &cobra.Command{Use: "zeitwork"}
		root.AddCommand(Commands()...)
		var b strings.Builder
		root.SetOut(&b)
		root.SetIn(strings.NewReader(tc.in))
		root.SetArgs([]string{"git-credential", "get"})
		if err := root.Execute(); err != nil || b.String() != tc.want {
			t.Fatalf("helper for %q: %q %v, want %q", tc.in, b.String(), err, tc.want)
		}
	}
}
