package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// TestOpen: `zeitwork open` hands the project's URL (or the dashboard
// page, or a deployment's) to $BROWSER; with no browser to start it prints
// the URL and succeeds; --print only prints.
func TestOpen(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "shop")

	dir := t.TempDir()
	got := filepath.Join(dir, "url")
	script := filepath.Join(dir, "browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+got+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)
	opened := func(args ...string) string {
		t.Helper()
		os.Remove(got)
		out := mustRun(t, append([]string{"open"}, args...)...)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if b, err := os.ReadFile(got); err == nil && len(b) > 0 {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("open %v: the browser was not started:\n%s", args, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if u := opened("shop"); u != "http://shop.apps.test" {
		t.Errorf("open shop opened %q", u)
	}
	if u := opened("shop", "--dashboard"); u != url+"/projects/shop" {
		t.Errorf("open --dashboard opened %q", u)
	}
	id := deployLayout(t, "shop")
	if u := opened("--deployment", id); !strings.HasPrefix(u, "http://") || !strings.Contains(u, "shop") || u == "http://shop.apps.test" {
		t.Errorf("open --deployment opened %q, want the versioned URL", u)
	}
	if out := mustRun(t, "open", "shop", "--print"); strings.TrimSpace(out) != "http://shop.apps.test" {
		t.Errorf("open --print: %q", out)
	}
	if _, err := run(t, "open", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("open of an unknown project: %v", err)
	}
	if _, err := run(t, "open", "--deployment", "00000000-0000-0000-0000-000000000000"); err == nil {
		t.Error("open of an unknown deployment succeeded")
	}

	// No $BROWSER and no display, as over SSH: the URL is printed, exit 0.
	t.Setenv("BROWSER", "")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	out, err := run(t, "open", "shop")
	if err != nil || !strings.Contains(out, "http://shop.apps.test") || !strings.Contains(out, "Could not start a browser") {
		t.Errorf("open without a display: %v\n%s", err, out)
	}
}

// deployLayout deploys a tiny local image to project without waiting, and
// returns the deployment's id.
func deployLayout(t *testing.T, project string, flags ...string) string {
	t.Helper()
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("bin")}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if err := image.WriteLayout(layout, img, "v1"); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"deploy", "--image", layout, "--detach", "--json"}, flags...)
	if project != "" {
		args = append(args, "-p", project)
	}
	out := mustRun(t, args...)
	var d api.Deployment
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &d); err != nil || d.ID == "" {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	return d.ID
}

// TestRollbackJSON: `rollback --json` prints the new deployment as JSON
// and nothing else, for scripts.
func TestRollbackJSON(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "shop")
	id := deployLayout(t, "shop")
	// Only a deployment whose image the operator resolved can be rolled
	// back to; that happens in its background loop.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var evs []api.DeploymentEvent
		if err := json.Unmarshal([]byte(mustRun(t, "deployments", "events", id, "--json")), &evs); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(evs, func(e api.DeploymentEvent) bool { return e.Kind == "image" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s never resolved its image: %+v", id, evs)
		}
	}
	out := mustRun(t, "rollback", "shop", "--to", id, "--detach", "--json")
	var d api.Deployment
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ID == "" || d.ID == id || d.Project != "shop" {
		t.Fatalf("rollback --json: %v\n%s", err, out)
	}
}
