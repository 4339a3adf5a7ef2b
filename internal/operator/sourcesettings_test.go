package operator_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// TestGitPushUsesProjectSourceSettings: a project whose root directory is
// "app" and whose Dockerfile is docker/Dockerfile in it builds a git push
// of a repository laid out that way: the context is the root directory
// (with its .dockerignore), the Dockerfile the project's.
func TestGitPushUsesProjectSourceSettings(t *testing.T) {
	g := startGit(t)
	if code := g.call("PATCH", "/v1/projects/web", g.token, api.UpdateProjectRequest{
		RootDir: ptr("app"), Dockerfile: ptr("docker/Dockerfile")}, nil); code != http.StatusOK {
		t.Fatalf("set source settings: %d", code)
	}
	repo := t.TempDir()
	for _, d := range []string{"app/docker", "docs"} {
		os.MkdirAll(filepath.Join(repo, d), 0o755)
	}
	mustGit(t, repo, "init", "--quiet", "--initial-branch=main")
	commit(t, repo, map[string]string{
		"README.md":             "outside the root directory",
		"docs/x.md":             "outside too",
		"app/docker/Dockerfile": "FROM scratch\nCOPY server /app\n",
		"app/server":            "v1",
		"app/.dockerignore":     "secret.txt\n",
		"app/secret.txt":        "left out by .dockerignore",
	}, "monorepo")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	ctxs := g.builder.built()
	if len(ctxs) != 1 {
		t.Fatalf("built contexts: %+v", ctxs)
	}
	c := ctxs[0]
	if c["server"] != "v1" || c["docker/Dockerfile"] == "" || c["README.md"] != "" || c["docs/x.md"] != "" || c["secret.txt"] != "" {
		t.Fatalf("build context is not the root directory app/ with its .dockerignore: %+v", c)
	}
	if bs := g.builds(); len(bs) != 1 || bs[0].Dockerfile != "docker/Dockerfile" || bs[0].Status != api.BuildDone {
		t.Fatalf("builds: %+v", bs)
	}

	// A root directory the commit lacks fails the push with what is wrong.
	g.call("PATCH", "/v1/projects/web", g.token, api.UpdateProjectRequest{RootDir: ptr("missing")}, nil)
	commit(t, repo, map[string]string{"app/server": "v2"}, "second")
	if out, ok := git(t, repo, "push", g.remote("web", g.token), "main"); ok || !containsAll(out, "root directory", "missing") {
		t.Fatalf("push with a missing root directory: ok=%v\n%s", ok, out)
	}
}

// TestUploadUsesProjectDockerfile: an upload without ?dockerfile= builds
// with the project's Dockerfile; an explicit one still wins.
func TestUploadUsesProjectDockerfile(t *testing.T) {
	fake := &operatortest.Builder{}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{Dockerfile: ptr("docker/Dockerfile")}, nil)
	files := map[string]string{"docker/Dockerfile": "FROM scratch\nCOPY app /app\n", "Other.Dockerfile": "FROM scratch\n", "app": "bin"}
	code, b, e := upload(t, h.url, h.token, "web", "", contextArchive(t, files))
	if code != http.StatusAccepted || b.Dockerfile != "docker/Dockerfile" {
		t.Fatalf("upload without ?dockerfile: %d %+v %+v", code, b, e)
	}
	waitBuild(t, h.url, h.token, b.ID, api.BuildDone)
	code, b, e = upload(t, h.url, h.token, "web", "?dockerfile=Other.Dockerfile", contextArchive(t, files))
	if code != http.StatusAccepted || b.Dockerfile != "Other.Dockerfile" {
		t.Fatalf("upload with ?dockerfile: %d %+v %+v", code, b, e)
	}
	waitBuild(t, h.url, h.token, b.ID, api.BuildDone)
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Dockerfile != "docker/Dockerfile" || reqs[1].Dockerfile != "Other.Dockerfile" {
		t.Fatalf("builder requests: %+v", reqs)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
