package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// startWithBuilder runs a real operator with a fake builder and logs the
// CLI in to it.
func startWithBuilder(t *testing.T, hook func(context.Context, build.Request) error) {
	t.Helper()
	srv := operatortest.Start(t, func(c *operator.Config) { c.Builder = &operatortest.Builder{Hook: hook} })
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", "")
	t.Setenv("ZEITWORK_TOKEN", "")
	mustRun(t, "login", "--api", srv.URL, "--token", srv.Token)
	mustRun(t, "projects", "create", "shop")
}

func appDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeployDir(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	startWithBuilder(t, func(ctx context.Context, req build.Request) error {
		mu.Lock()
		defer mu.Unlock()
		filepath.WalkDir(req.ContextDir, func(p string, d os.DirEntry, _ error) error {
			if !d.IsDir() {
				rel, _ := filepath.Rel(req.ContextDir, p)
				seen = append(seen, rel)
			}
			return nil
		})
		if req.Target == "broken" {
			return fmt.Errorf("%w: RUN make: exit status 2", build.ErrUser)
		}
		return nil
	})
	dir := appDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY . /\n", ".dockerignore": "node_modules\n*.log\n",
		"main.go": "package main", "debug.log": "x", "node_modules/x/index.js": "x",
	})
	// No node runs instances here: the rollout cannot finish, but the build
	// and the deployment it creates are shown first.
	out, err := run(t, "deploy", dir, "-p", "shop", "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "still deploying") {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, want := range []string{"==> Uploading", "Build ", "queued", "| STEP 1/1: FROM scratch", "==> Built sha256:", "==> Deployment ", "resolving image"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	sort.Strings(seen)
	if got := strings.Join(seen, " "); got != ".dockerignore Dockerfile main.go" {
		t.Fatalf("context sent: %s", got)
	}

	out, err = run(t, "deploy", dir, "-p", "shop", "--target", "broken")
	var ue *UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "failed: RUN make: exit status 2") || !strings.Contains(ue.Hint, "zeitwork builds logs") {
		t.Fatalf("failing build: %v\n%s", err, out)
	}

	out = mustRun(t, "builds", "production-branch", "shop", "release")
	if !strings.Contains(out, "Builds of release now go live") {
		t.Fatalf("production-branch: %s", out)
	}
	if _, err := run(t, "builds", "production-branch", "shop", "a..b"); err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("bad branch: %v", err)
	}
	out = mustRun(t, "builds", "list", "shop")
	if !strings.HasPrefix(out, "BUILD") || strings.Count(out, "upload") != 2 || !strings.Contains(out, "failed") || !strings.Contains(out, "done") {
		t.Fatalf("builds list:\n%s", out)
	}
}

func TestDeployDirRefusals(t *testing.T) {
	startWithBuilder(t, nil)
	_, err := run(t, "deploy", appDir(t, map[string]string{"main.go": "x"}), "-p", "shop")
	if err == nil || !strings.Contains(err.Error(), "no Dockerfile") || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("no Dockerfile: %v", err)
	}
	big := appDir(t, map[string]string{"Dockerfile": "FROM scratch", "blob": strings.Repeat("x", 2<<20)})
	_, err = run(t, "deploy", big, "-p", "shop", "--max-context", "1")
	if err == nil || !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), ".dockerignore") {
		t.Fatalf("context over the limit: %v", err)
	}
	if _, err := run(t, "deploy", "/does/not/exist", "-p", "shop"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("missing dir: %v", err)
	}
}

// TestBuildsRunningCancelAndLogs: status shows a running build; cancel
// stops it; logs -f ends with the build.
func TestBuildsRunningCancelAndLogs(t *testing.T) {
	started := make(chan struct{}, 1)
	startWithBuilder(t, func(ctx context.Context, req build.Request) error {
		fmt.Fprintln(req.Log, "compiling...")
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	dir := appDir(t, map[string]string{"Dockerfile": "FROM scratch"})
	mustRun(t, "deploy", dir, "-p", "shop", "--detach")
	<-started
	out := mustRun(t, "status")
	if !strings.Contains(out, "BUILDS") || !strings.Contains(out, "building") {
		t.Fatalf("status:\n%s", out)
	}
	id := ""
	for _, line := range strings.Split(mustRun(t, "builds", "list", "shop", "--json"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"id": "`); ok {
			id = strings.TrimSuffix(v, `",`)
			break
		}
	}
	done := make(chan string)
	go func() {
		out, _ := runIn(t, "builds", "logs", id, "-f")
		done <- out
	}()
	mustRun(t, "builds", "cancel", id)
	select {
	case out := <-done:
		if !strings.Contains(out, "compiling...") || !strings.Contains(out, "cancelled") {
			t.Fatalf("logs -f:\n%s", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("logs -f did not end with the build")
	}
	out = mustRun(t, "builds", "show", id)
	if !strings.Contains(out, "cancelled") || !strings.Contains(out, "source:     upload") {
		t.Fatalf("show:\n%s", out)
	}
	if _, err := run(t, "builds", "cancel", id); err == nil || !strings.Contains(err.Error(), "already ended") {
		t.Fatalf("second cancel: %v", err)
	}
}

// runIn is run for another goroutine: it reports instead of failing.
func runIn(t *testing.T, args ...string) (string, error) {
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestDeployDirUsesProjectDockerfile: without --file, `zeitwork deploy DIR`
// builds from the project's Dockerfile, sent even if .dockerignore
// excludes it; --file still wins.
func TestDeployDirUsesProjectDockerfile(t *testing.T) {
	got := make(chan string, 2)
	startWithBuilder(t, func(ctx context.Context, req build.Request) error {
		if _, err := os.Stat(filepath.Join(req.ContextDir, req.Dockerfile)); err != nil {
			return fmt.Errorf("%w: no Dockerfile %s in the context", build.ErrUser, req.Dockerfile)
		}
		got <- req.Dockerfile
		return nil
	})
	mustRun(t, "projects", "update", "shop", "--dockerfile", "docker/Dockerfile")
	dir := appDir(t, map[string]string{"docker/Dockerfile": "FROM scratch", "Other": "FROM scratch", ".dockerignore": "docker/Dockerfile\n"})
	mustRun(t, "deploy", dir, "-p", "shop", "--detach")
	if df := <-got; df != "docker/Dockerfile" {
		t.Fatalf("built from %s, want the project's docker/Dockerfile", df)
	}
	mustRun(t, "deploy", dir, "-p", "shop", "--detach", "--file", "Other")
	if df := <-got; df != "Other" {
		t.Fatalf("built from %s, want --file Other", df)
	}
}

// TestBuildsShowPushing: while the builder pushes, status, builds show
// (table and --json) say pushing, with the build stage's time.
func TestBuildsShowPushing(t *testing.T) {
	pushing := make(chan struct{}, 1)
	startWithBuilder(t, func(ctx context.Context, req build.Request) error {
		req.EnterStage(build.StagePush)
		pushing <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	mustRun(t, "deploy", appDir(t, map[string]string{"Dockerfile": "FROM scratch"}), "-p", "shop", "--detach")
	<-pushing
	var b api.Build
	deadline := time.Now().Add(15 * time.Second)
	for b.Status != api.BuildPushing {
		if time.Now().After(deadline) {
			t.Fatalf("build not pushing: %+v", b)
		}
		var bs []api.Build
		if err := json.Unmarshal([]byte(mustRun(t, "builds", "list", "shop", "--json")), &bs); err != nil || len(bs) != 1 {
			t.Fatalf("builds list --json: %v %+v", err, bs)
		}
		b = bs[0]
		time.Sleep(20 * time.Millisecond)
	}
	var shown api.Build
	if err := json.Unmarshal([]byte(mustRun(t, "builds", "show", b.ID, "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if _, ok := shown.Timings["build"]; shown.Status != api.BuildPushing || !ok {
		t.Fatalf("builds show --json: %+v", shown)
	}
	out := mustRun(t, "builds", "show", b.ID)
	if !strings.Contains(out, ": pushing") || !regexp.MustCompile(`timings:\s+receive \d+\.\ds, extract \d+\.\ds, build \d+\.\ds`).MatchString(out) {
		t.Fatalf("builds show:\n%s", out)
	}
	if out := mustRun(t, "status"); !strings.Contains(out, "pushing") {
		t.Fatalf("status:\n%s", out)
	}
	mustRun(t, "builds", "cancel", b.ID)
}
