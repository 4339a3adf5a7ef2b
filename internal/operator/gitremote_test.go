package operator_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// pushBuilder is a fake build.Builder: it keeps each build's context
// (file -> content), logs two lines and pushes a tiny image with the
// request's credentials, as a real backend would. A Dockerfile with
// "RUN false" fails the way a failing RUN step does.
type pushBuilder struct {
	mu       sync.Mutex
	contexts []map[string]string
}

func (b *pushBuilder) Build(ctx context.Context, req build.Request) (build.Result, error) {
	files := map[string]string{}
	filepath.WalkDir(req.ContextDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(req.ContextDir, p)
			files[rel] = string(data)
		}
		return nil
	})
	b.mu.Lock()
	b.contexts = append(b.contexts, files)
	b.mu.Unlock()
	df := files[req.Dockerfile]
	fmt.Fprintf(req.Log, "STEP 1/2: %s\n", strings.SplitN(df, "\n", 2)[0])
	fmt.Fprintf(req.Log, "output with an escape \x1b]0;owned\x07 sequence\n")
	if strings.Contains(df, "RUN false") {
		fmt.Fprintf(req.Log, "STEP 2/2: RUN false\n")
		return build.Result{}, fmt.Errorf("%w: step RUN false exited with code 1", build.ErrUser)
	}
	fmt.Fprintf(req.Log, "COMMIT %s\n", req.Push)
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte(df)}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		return build.Result{}, err
	}
	ref, err := name.ParseReference(req.Push, name.Insecure)
	if err != nil {
		return build.Result{}, err
	}
	digest, err := image.PushImage(ctx, img, ref, &authn.Basic{Username: req.PushUser, Password: req.PushPassword}, nil)
	if err != nil {
		return build.Result{}, fmt.Errorf("push: %w", err)
	}
	return build.Result{Digest: digest}, nil
}

func (b *pushBuilder) built() []map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]string(nil), b.contexts...)
}

// gitHarness is an operator with a git remote and a fake builder, one
// node that reports every instance healthy, and project "web".
type gitHarness struct {
	*harness
	builder *pushBuilder
	gitDir  string
	project api.Project
}

// startGit starts the harness; tweaks may replace the fake builder.
func startGit(t *testing.T, tweaks ...func(*operator.Config)) *gitHarness {
	t.Helper()
	g := &gitHarness{builder: &pushBuilder{}, gitDir: t.TempDir()}
	g.harness = start(t, append([]func(*operator.Config){func(c *operator.Config) { c.Builder = g.builder; c.GitDir = g.gitDir }}, tweaks...)...)
	if code := g.call("POST", "/v1/projects", g.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, &g.project); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	n := g.register("eu", "10.0.0.1:7443")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.healthyLoop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// healthyLoop reports each instance the node should run healthy, but
// those of project "crashy" failed.
func (n *fakeNode) healthyLoop(ctx context.Context) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.h.url+"/v1/nodes/"+n.id+"/desired", nil)
		req.Header.Set("Authorization", "Bearer "+n.token)
		var ds api.DesiredState
		if resp, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&ds)
			resp.Body.Close()
		}
		for _, in := range running(ds.Instances) {
			report := api.InstanceReport{State: api.InstanceHealthy}
			if in.Project == "crashy" {
				report = api.InstanceReport{State: api.InstanceFailed, Reason: "app exited with code 1: boom"}
			}
			body, _ := json.Marshal(report)
			req, _ := http.NewRequestWithContext(ctx, "POST", n.h.url+"/v1/nodes/"+n.id+"/instances/"+in.ID, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+n.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// remote is the project's git remote URL with token as the password.
func (g *gitHarness) remote(project, token string) string {
	return strings.Replace(g.url, "http://", "http://zeitwork:"+token+"@", 1) + "/git/" + project + ".git"
}

// git runs git in dir with a configuration of its own, and returns its
// combined output and whether it succeeded.
func git(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@acme.test",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@acme.test", "NO_PROXY=*", "no_proxy=*")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, ok := git(t, dir, args...)
	if !ok {
		t.Fatalf("git %v: %s", args, out)
	}
	return strings.TrimSpace(out)
}

// localRepo makes a repository with one commit of files on branch main.
func localRepo(t *testing.T, files map[string]string, message string) string {
	t.Helper()
	dir := t.TempDir()
	mustGit(t, dir, "init", "--quiet", "--initial-branch=main")
	commit(t, dir, files, message)
	return dir
}

func commit(t *testing.T, dir string, files map[string]string, message string) string {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustGit(t, dir, "add", "-A")
	mustGit(t, dir, "commit", "--quiet", "-m", message)
	return mustGit(t, dir, "rev-parse", "HEAD")
}

// remoteRef is the sha of ref in the project's bare repository, or "".
func (g *gitHarness) remoteRef(ref string) string {
	out, _ := git(g.t, g.gitDir, "--git-dir", filepath.Join(g.gitDir, "repos", g.project.ID+".git"), "rev-parse", "--verify", "--quiet", ref)
	return strings.TrimSpace(out)
}

func (g *gitHarness) builds() []api.Build {
	var bs []api.Build
	if code := g.call("GET", "/v1/projects/web/builds", g.token, nil, &bs); code != 200 {
		g.t.Fatalf("list builds: %d", code)
	}
	return bs
}

func TestGitPushBuildsAndDeploys(t *testing.T) {
	g := startGit(t)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "v1"}, "first version\n\nwith a body")
	sha := mustGit(t, repo, "rev-parse", "HEAD")
	// A later commit on another local branch must not be what is built.
	mustGit(t, repo, "checkout", "--quiet", "-b", "other")
	commit(t, repo, map[string]string{"app": "other"}, "not pushed")

	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	t.Logf("git push:\n%s", out)
	bs := g.builds()
	if len(bs) != 1 {
		t.Fatalf("builds: %+v", bs)
	}
	b := bs[0]
	if b.Source != "git" || b.Commit != sha || b.Branch != "main" || b.CommitMessage != "first version\n\nwith a body" ||
		b.CommitAuthor != "Ada Lovelace <ada@acme.test>" || b.Status != api.BuildDone || b.Preview || b.Deployment == "" {
		t.Fatalf("build: %+v", b)
	}
	var got api.Build
	g.call("GET", "/v1/builds/"+b.ID, g.token, nil, &got)
	if got.Commit != sha || got.CommitAuthor != b.CommitAuthor || got.CommitMessage != b.CommitMessage {
		t.Fatalf("GET build: %+v", got)
	}
	if ctx := g.builder.built(); len(ctx) != 1 || ctx[0]["app"] != "v1" {
		t.Fatalf("built context: %+v", ctx)
	}
	d := g.deployment(b.Deployment)
	if !d.Live || d.Status != api.StatusReady {
		t.Fatalf("deployment not live after the push: %+v", d)
	}
	for _, want := range []string{
		"remote: STEP 1/2: FROM scratch", "remote: COMMIT ",
		"remote: zeitwork: deployment " + d.ID + " is live at http://web.apps.test", d.URL,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "escape ?]0;owned? sequence") {
		t.Errorf("control characters of the build output reached the pusher:\n%q", out)
	}
	if g.remoteRef("refs/heads/main") != sha {
		t.Fatalf("remote main is %q, want %s", g.remoteRef("refs/heads/main"), sha)
	}
	// The repository is cloned back with the same token.
	clone := t.TempDir()
	mustGit(t, clone, "clone", "--quiet", g.remote("web", g.token), "web")
	if head := mustGit(t, filepath.Join(clone, "web"), "rev-parse", "HEAD"); head != sha {
		t.Fatalf("clone HEAD %s, want %s", head, sha)
	}
}

func TestGitPushFailedBuildRejectsPush(t *testing.T) {
	g := startGit(t)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nRUN false\n"}, "broken")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if ok {
		t.Fatalf("push of a failing build succeeded:\n%s", out)
	}
	for _, want := range []string{"remote: STEP 2/2: RUN false", "step RUN false exited with code 1", "pre-receive hook declined"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if ref := g.remoteRef("refs/heads/main"); ref != "" {
		t.Fatalf("the rejected push updated main to %s", ref)
	}
	if bs := g.builds(); len(bs) != 1 || bs[0].Status != api.BuildFailed {
		t.Fatalf("builds: %+v", bs)
	}

	// A context without a Dockerfile is refused before any build.
	repo2 := localRepo(t, map[string]string{"README": "no Dockerfile"}, "docs only")
	out, ok = git(t, repo2, "push", g.remote("web", g.token), "main")
	if ok || !strings.Contains(out, "no Dockerfile (or Containerfile) at the root") {
		t.Fatalf("push without a Dockerfile: ok=%v\n%s", ok, out)
	}
	if len(g.builds()) != 1 {
		t.Fatal("a context without a Dockerfile was queued")
	}

	// A commit whose symlink leads out of the context is refused too.
	repo3 := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY secret /secret\n"}, "base")
	if err := os.Symlink("/etc/hostname", filepath.Join(repo3, "secret")); err != nil {
		t.Fatal(err)
	}
	commit(t, repo3, nil, "link out")
	out, ok = git(t, repo3, "push", g.remote("web", g.token), "main")
	if ok || !strings.Contains(out, "outside the context") {
		t.Fatalf("push with a symlink out of the context: ok=%v\n%s", ok, out)
	}
	if len(g.builds()) != 1 {
		t.Fatal("a context with a symlink out of it was queued")
	}
}

func TestGitPushBranchMakesPreview(t *testing.T) {
	g := startGit(t)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "v1"}, "feature")
	sha := mustGit(t, repo, "rev-parse", "HEAD")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main:feature")
	if !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	bs := g.builds()
	if len(bs) != 1 || !bs[0].Preview || bs[0].Branch != "feature" || bs[0].Commit != sha || bs[0].Status != api.BuildDone {
		t.Fatalf("builds: %+v", bs)
	}
	d := g.deployment(bs[0].Deployment)
	if d.Live || !d.Preview || d.Status != api.StatusReady {
		t.Fatalf("preview deployment: %+v", d)
	}
	if !strings.Contains(out, "remote: zeitwork: preview "+d.ID+" is live at "+d.URL) {
		t.Fatalf("push output lacks the preview URL %s:\n%s", d.URL, out)
	}
	var p api.Project
	g.call("GET", "/v1/projects/web", g.token, nil, &p)
	if p.LiveDeployment != "" {
		t.Fatalf("a preview went live: %+v", p)
	}
	// Deleting the branch builds nothing.
	if out, ok := git(t, repo, "push", g.remote("web", g.token), ":feature"); !ok {
		t.Fatalf("delete branch:\n%s", out)
	}
	if len(g.builds()) != 1 {
		t.Fatal("deleting a branch built something")
	}
}

func TestGitRemoteAuth(t *testing.T) {
	g := startGit(t)
	other, err := operator.Bootstrap(context.Background(), g.store, "other", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", g.url+path, nil)
		if token != "" {
			req.SetBasicAuth("zeitwork", token)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	refs := "/git/web.git/info/refs?service=git-receive-pack"
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no token", refs, "", 401},
		{"wrong token", refs, "zw_wrong", 401},
		{"node token", refs, g.register("eu", "10.0.0.2:7443").token, 401},
		{"another organisation", refs, other, 404},
		{"missing project", "/git/nope.git/info/refs?service=git-upload-pack", g.token, 404},
		// The mux redirects to the cleaned path, outside /git/.
		{"dot-dot", "/git/../web.git/info/refs?service=git-upload-pack", g.token, 307},
		{"escaped dot-dot", "/git/%2e%2e/web.git/info/refs?service=git-upload-pack", g.token, 400},
		{"odd name", "/git/We_b.git/info/refs?service=git-upload-pack", g.token, 400},
		{"dumb protocol", "/git/web.git/HEAD", g.token, 400},
		{"objects path", "/git/web.git/objects/info/packs", g.token, 400},
		{"no .git", "/git/web/info/refs", g.token, 400},
		{"owner", refs, g.token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(tc.path, tc.token)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %d, want %d", tc.path, resp.StatusCode, tc.want)
			}
			if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("401 without a Basic challenge: %v", resp.Header)
			}
		})
	}
	// Only the owner's project got a repository, named by its id.
	entries, _ := os.ReadDir(filepath.Join(g.gitDir, "repos"))
	if len(entries) != 1 || entries[0].Name() != g.project.ID+".git" {
		t.Fatalf("repositories: %v", entries)
	}

	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\n"}, "x")
	for _, token := range []string{"zw_wrong", other} {
		if out, ok := git(t, repo, "push", g.remote("web", token), "main"); ok {
			t.Fatalf("push with token %q succeeded:\n%s", token, out)
		}
	}
	if bs := g.builds(); len(bs) != 0 || len(g.builder.built()) != 0 {
		t.Fatalf("a refused push built: %+v", bs)
	}
}

// TestGitPushLargePack pushes a pack over git's 1 MiB post buffer, which
// git sends as a chunked body (net/http/cgi refuses those as they come).
func TestGitPushLargePack(t *testing.T) {
	g := startGit(t)
	big := make([]byte, 3<<20)
	rand.Read(big)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY blob /blob\n", "blob": string(big)}, "big")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if !ok {
		t.Fatalf("push failed:\n%s", out)
	}
	if ctx := g.builder.built(); len(ctx) != 1 || ctx[0]["blob"] != string(big) {
		t.Fatal("the build did not get the pushed file")
	}
}

// TestBuildAPIGitMetadata: the builds API takes a commit's id, message
// and author with an uploaded context and shows them.
func TestBuildAPIGitMetadata(t *testing.T) {
	g := startGit(t)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\n"}, "ci build")
	sha := mustGit(t, repo, "rev-parse", "HEAD")
	tarPath := filepath.Join(t.TempDir(), "ctx.tar")
	mustGit(t, repo, "archive", "--format=tar", "--output", tarPath, "HEAD")
	post := func(query string) (int, api.Build) {
		body, _ := os.ReadFile(tarPath)
		req, _ := http.NewRequest("POST", g.url+"/v1/projects/web/builds?"+query, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b api.Build
		json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	if code, _ := post("commit=HEAD"); code != 400 {
		t.Fatalf("a commit that is not an id: %d", code)
	}
	code, b := post(url.Values{"branch": {"main"}, "commit": {sha}, "message": {"ci build"}, "author": {"CI <ci@acme.test>"}}.Encode())
	if code != 202 {
		t.Fatalf("create build: %d", code)
	}
	var got api.Build
	g.call("GET", "/v1/builds/"+b.ID, g.token, nil, &got)
	if got.Source != "git" || got.Commit != sha || got.CommitMessage != "ci build" || got.CommitAuthor != "CI <ci@acme.test>" || got.Branch != "main" {
		t.Fatalf("build: %+v", got)
	}
}

// TestGitPushOverLimit: a pack over GitMaxPushBytes is refused and builds
// nothing.
func TestGitPushOverLimit(t *testing.T) {
	g := startGit(t, func(c *operator.Config) { c.GitMaxPushBytes = 1 << 20 })
	big := make([]byte, 2<<20)
	rand.Read(big)
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\n", "blob": string(big)}, "too big")
	out, ok := git(t, repo, "push", g.remote("web", g.token), "main")
	if ok || !strings.Contains(out, "pack exceeds maximum allowed size") {
		t.Fatalf("push over the limit: ok=%v\n%s", ok, out)
	}
	if len(g.builds()) != 0 || g.remoteRef("refs/heads/main") != "" {
		t.Fatal("a push over the limit was built or stored")
	}
}

// TestGitPushRolloutFails: a build that succeeds but whose instances crash
// fails the push with the deployment's reason; the ref is not updated.
func TestGitPushRolloutFails(t *testing.T) {
	g := startGit(t, func(c *operator.Config) { c.DeployTimeout = 5 * time.Second })
	var p api.Project
	if code := g.call("POST", "/v1/projects", g.token, api.CreateProjectRequest{Name: "crashy", MinInstancesPerRegion: 1}, &p); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	repo := localRepo(t, map[string]string{"Dockerfile": "FROM scratch\n"}, "crashes")
	out, ok := git(t, repo, "push", g.remote("crashy", g.token), "main")
	if ok || !strings.Contains(out, "boom") || !strings.Contains(out, "remote: error: deployment ") {
		t.Fatalf("push of a crashing app: ok=%v\n%s", ok, out)
	}
	ref, _ := git(t, g.gitDir, "--git-dir", filepath.Join(g.gitDir, "repos", p.ID+".git"), "rev-parse", "--verify", "--quiet", "refs/heads/main")
	if strings.TrimSpace(ref) != "" {
		t.Fatalf("the rejected push updated main to %s", ref)
	}
}

// TestGitRemoteDisabled: without GitDir the remote answers 503 with what
// to do, and writes nothing.
func TestGitRemoteDisabled(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	var e api.Error
	if code := h.call("GET", "/git/web.git/info/refs?service=git-upload-pack", h.token, nil, &e); code != 503 || !strings.Contains(e.Hint, "zeitwork deploy") {
		t.Fatalf("git remote without GitDir: %d %+v", code, e)
	}
}
