package operator_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestBuildArgsReachOnlyTheirProjectsBuilds: a build gets exactly its
// project's build args (not another project's, not its env vars); the
// list shows names only; values are sealed at rest.
func TestBuildArgsReachOnlyTheirProjectsBuilds(t *testing.T) {
	fake := &operatortest.Builder{}
	h := start(t, withBuilder(fake))
	for _, p := range []string{"web", "other"} {
		h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: p}, nil)
	}
	put := func(project, name, value string) {
		t.Helper()
		if code := h.call("PUT", "/v1/projects/"+project+"/build-args/"+name, h.token, api.BuildArg{Value: value}, nil); code != http.StatusNoContent {
			t.Fatalf("set build arg %s on %s: %d", name, project, code)
		}
	}
	put("web", "NPM_TOKEN", "s3cret-npm")
	put("web", "GIT_REV", "old")
	put("web", "GIT_REV", "abc123") // replaced
	put("web", "GONE", "x")
	if code := h.call("DELETE", "/v1/projects/web/build-args/GONE", h.token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("unset: %d", code)
	}
	put("other", "OTHER_SECRET", "not-for-web")
	h.call("PUT", "/v1/projects/web/env/APP_SECRET", h.token, api.EnvVar{Value: "app-only"}, nil)

	_, b, e := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	if b.ID == "" {
		t.Fatalf("upload: %+v", e)
	}
	waitBuild(t, h.url, h.token, b.ID, api.BuildDone)
	reqs := fake.Requests()
	want := map[string]string{"NPM_TOKEN": "s3cret-npm", "GIT_REV": "abc123"}
	if len(reqs) != 1 || len(reqs[0].Args) != len(want) {
		t.Fatalf("builder got %+v, want args %v", reqs, want)
	}
	for k, v := range want {
		if reqs[0].Args[k] != v {
			t.Errorf("build arg %s = %q, want %q (all: %v)", k, reqs[0].Args[k], v, reqs[0].Args)
		}
	}

	var list []api.BuildArg
	if code := h.call("GET", "/v1/projects/web/build-args", h.token, nil, &list); code != 200 || len(list) != 2 ||
		list[0].Name != "GIT_REV" || list[1].Name != "NPM_TOKEN" || list[0].Value != "" || list[1].Value != "" {
		t.Fatalf("list: %d %+v", code, list)
	}
	rows, err := h.store.Pool.Query(context.Background(), "SELECT name, sealed FROM build_args")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		var sealed []byte
		rows.Scan(&name, &sealed)
		n++
		for _, plain := range []string{"s3cret-npm", "abc123", "not-for-web"} {
			if bytes.Contains(sealed, []byte(plain)) {
				t.Errorf("build arg %s stored with its value in plaintext", name)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d build arg rows, want 3", n)
	}
}

// TestBuildArgsAreNotEnvVars: an env var's sealed value copied into
// build_args does not open as a build arg (distinct seal contexts), and
// the build fails rather than get it.
func TestBuildArgsAreNotEnvVars(t *testing.T) {
	fake := &operatortest.Builder{}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.call("PUT", "/v1/projects/web/env/APP_SECRET", h.token, api.EnvVar{Value: "app-only"}, nil)
	_, err := h.store.Pool.Exec(context.Background(),
		"INSERT INTO build_args (project_id, name, sealed) SELECT project_id, name, sealed FROM env_vars")
	if err != nil {
		t.Fatal(err)
	}
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	b = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	if b.Status != api.BuildFailed {
		t.Fatalf("a build with a replayed env var as build arg: %+v", b)
	}
	for _, r := range fake.Requests() {
		for _, v := range r.Args {
			if v == "app-only" {
				t.Fatal("an env var's ciphertext opened as a build arg")
			}
		}
	}
}

// TestBuildArgLimits: build args have env vars' names and limits, and
// are scoped to the caller's organisation.
func TestBuildArgLimits(t *testing.T) {
	srv := operatortest.Start(t, func(c *operator.Config) { c.EnvMaxVars = 2; c.EnvMaxBytes = 100 })
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, srv: srv}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	set := func(name, value string) (int, api.Error) {
		var e api.Error
		return h.call("PUT", "/v1/projects/web/build-args/"+name, h.token, api.BuildArg{Value: value}, &e), e
	}
	for _, c := range []struct {
		name, value string
		code        int
		says        string
	}{
		{"A", strings.Repeat("a", 40), 204, ""},
		{"B", strings.Repeat("b", 60), 413, "limit 100"},
		{"B", "b", 204, ""},
		{"C", "c", 413, "at most 2 build args"},
		{"C", "nul\x00byte", 400, "NUL"},
		{"1X", "x", 400, "invalid build arg name"},
		{"X%3DY", "x", 400, "invalid build arg name"},
		{"LD_PRELOAD", "/tmp/x.so", 400, "reserved by the builder"},
		{"https_proxy", "http://evil", 400, "reserved by the builder"},
	} {
		code, e := set(c.name, c.value)
		if code != c.code || !strings.Contains(e.Error, c.says) || (code >= 400 && e.Hint == "") {
			t.Errorf("set %s=%.20q: %d %+v, want %d %q with a hint", c.name, c.value, code, e, c.code, c.says)
		}
	}
	// Env vars have their own count: two build args leave room for them.
	if code := h.call("PUT", "/v1/projects/web/env/A", h.token, api.EnvVar{Value: "x"}, nil); code != http.StatusNoContent {
		t.Fatalf("env var next to build args: %d", code)
	}
	other, err := operator.Bootstrap(context.Background(), h.store, "other", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/projects/web/build-args"}, {"PUT", "/v1/projects/web/build-args/X"}, {"DELETE", "/v1/projects/web/build-args/A"},
	} {
		if code := h.call(c.method, c.path, other, api.BuildArg{Value: "v"}, nil); code != http.StatusNotFound {
			t.Errorf("%s %s by another organisation: %d", c.method, c.path, code)
		}
	}
	if code := h.call("DELETE", "/v1/projects/web/build-args/NOPE", h.token, nil, nil); code != http.StatusNotFound {
		t.Errorf("unset a missing build arg: %d", code)
	}
}
