package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// startOperator runs a real operator on a real database and points the
// CLI at a config file of the test's own.
func startOperator(t *testing.T) (url, token string) {
	t.Helper()
	srv := operatortest.Start(t)
	t.Setenv("ZEITWORK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("ZEITWORK_API_URL", "")
	t.Setenv("ZEITWORK_TOKEN", "")
	return srv.URL, srv.Token
}

// run executes one zeitwork command line and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("zeitwork %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestNotLoggedIn(t *testing.T) {
	startOperator(t)
	_, err := run(t, "projects", "list")
	if err == nil || !strings.Contains(err.Error(), "not logged in") || !strings.Contains(err.Error(), "zeitwork login") {
		t.Fatalf("got %v", err)
	}
}

func TestLoginRejectsBadToken(t *testing.T) {
	url, _ := startOperator(t)
	_, err := run(t, "login", "--api", url, "--token", "zw_wrong")
	if err == nil || !strings.Contains(err.Error(), "invalid API token") {
		t.Fatalf("got %v", err)
	}
	_, err = run(t, "login", "--api", "http://127.0.0.1:1", "--token", "x")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the operator") {
		t.Fatalf("unreachable operator: %v", err)
	}
}

func TestProjectsEnvAndDeploy(t *testing.T) {
	url, token := startOperator(t)
	out := mustRun(t, "login", "--api", url, "--token", token)
	if !strings.Contains(out, "Logged in") {
		t.Fatalf("login: %s", out)
	}

	out = mustRun(t, "projects", "create", "shop", "--port", "3000", "--min-instances", "2", "--health-path", "/up", "--memory", "512", "--vcpus", "2")
	if !strings.Contains(out, "http://shop.apps.test") {
		t.Fatalf("create: %s", out)
	}
	if _, err := run(t, "projects", "create", "Bad_Name"); err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("bad name gave no hint: %v", err)
	}
	out = mustRun(t, "projects", "list")
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "shop") || !strings.Contains(out, "http://shop.apps.test") {
		t.Fatalf("table:\n%s", out)
	}
	var ps []api.Project
	if err := json.Unmarshal([]byte(mustRun(t, "projects", "list", "--json")), &ps); err != nil || len(ps) != 1 ||
		ps[0].Port != 3000 || ps[0].MinInstancesPerRegion != 2 || ps[0].HealthPath != "/up" || ps[0].MemoryMiB != 512 || ps[0].VCPUs != 2 {
		t.Fatalf("json: %+v %v", ps, err)
	}

	mustRun(t, "env", "set", "shop", "DB_URL=postgres://x?a=b", "MODE=prod")
	out = mustRun(t, "env", "list", "shop")
	if !strings.Contains(out, "DB_URL") || strings.Contains(out, "postgres://") {
		t.Fatalf("env list shows names only:\n%s", out)
	}
	mustRun(t, "env", "unset", "shop", "MODE")
	if _, err := run(t, "env", "unset", "shop", "MODE"); err == nil {
		t.Fatal("unset of a missing var succeeded")
	}
	if _, err := run(t, "env", "set", "shop", "NOEQUALS"); err == nil {
		t.Fatal("NAME without =VALUE accepted")
	}
	mustRun(t, "build-args", "set", "shop", "NPM_TOKEN=npm_s3cret", "REV=1")
	out = mustRun(t, "build-args", "list", "shop")
	if !strings.Contains(out, "NPM_TOKEN") || !strings.Contains(out, "REV") || strings.Contains(out, "npm_s3cret") || strings.Contains(out, "DB_URL") {
		t.Fatalf("build-args list shows the project's build arg names only:\n%s", out)
	}
	mustRun(t, "build-args", "unset", "shop", "REV")
	if _, err := run(t, "build-args", "unset", "shop", "REV"); err == nil || !strings.Contains(err.Error(), "build arg") {
		t.Fatalf("unset of a missing build arg: %v", err)
	}

	// A local OCI layout is pushed into the built-in registry first.
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("bin")}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if err := image.WriteLayout(layout, img, "v1"); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "deploy", "-p", "shop", "--image", layout, "--detach")
	if !strings.Contains(out, "Pushing") || !strings.Contains(out, "@sha256:") || !strings.Contains(out, "created") {
		t.Fatalf("deploy:\n%s", out)
	}
	var ds []api.Deployment
	if err := json.Unmarshal([]byte(mustRun(t, "deployments", "list", "shop", "--json")), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("deployments: %+v %v", ds, err)
	}
	out = mustRun(t, "status")
	if !strings.Contains(out, "DEPLOYMENTS") || !strings.Contains(out, ds[0].ID) {
		t.Fatalf("status:\n%s", out)
	}
	out = mustRun(t, "deployments", "show", ds[0].ID)
	if !strings.Contains(out, "Deployment "+ds[0].ID+" of shop") || !strings.Contains(out, "INSTANCE") {
		t.Fatalf("show:\n%s", out)
	}
	mustRun(t, "deployments", "delete", ds[0].ID)
	if _, err := run(t, "deploy", "-p", "shop", "--image", "./does-not-exist"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing local path: %v", err)
	}
	_, err = run(t, "deploy", "-p", "nope", "--image", "r.example/x:1", "--detach")
	var ue *UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "not found") || !strings.Contains(ue.Hint, "zeitwork projects create nope") {
		t.Fatalf("unknown project: %v (want a hint to create it)", err)
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		d    api.Deployment
		want string
	}{
		{"no instances yet", api.Deployment{Status: api.StatusDeploying}, "resolving image"},
		{"booting", api.Deployment{Status: api.StatusDeploying, Instances: []api.Instance{
			{Desired: "running", State: api.InstanceHealthy},
			{Desired: "running", State: api.InstanceStarting, Reason: "booting"},
			{Desired: "stopped", State: api.InstanceFailed},
		}}, "1/2 healthy, 1 starting (booting)"},
		{"done", api.Deployment{Status: api.StatusReady}, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(tt.d); got != tt.want {
				t.Errorf("progressLine = %q, want %q", got, tt.want)
			}
		})
	}
}
