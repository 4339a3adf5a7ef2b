package operator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
)

const adminToken = "admin-secret"

// fileBuilder is a fake build.Builder: it records the app.txt of each
// context it is given and pushes a tiny image made of it, as a real
// builder pushes its result.
type fileBuilder struct {
	mu    sync.Mutex
	built []string
}

func (b *fileBuilder) Build(ctx context.Context, req build.Request) (build.Result, error) {
	data, err := os.ReadFile(filepath.Join(req.ContextDir, "app.txt"))
	if err != nil {
		return build.Result{}, fmt.Errorf("%w: %v", build.ErrUser, err)
	}
	b.mu.Lock()
	b.built = append(b.built, string(data))
	b.mu.Unlock()
	if string(data) == "fail" {
		return build.Result{}, fmt.Errorf("%w: step 2/2: RUN exited with status 1", build.ErrUser)
	}
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: data}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		return build.Result{}, err
	}
	ref, err := name.ParseReference(req.Push, name.Insecure)
	if err != nil {
		return build.Result{}, err
	}
	digest, err := image.PushImage(ctx, img, ref, &authn.Basic{Username: req.PushUser, Password: req.PushPassword}, nil)
	return build.Result{Digest: digest}, err
}

func (b *fileBuilder) contents() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.built...)
}

// ghFixture is an operator with a GitHub App configured against the
// stand-in, a repository of two commits on main, and project "web"
// linked to it.
type ghFixture struct {
	*harness
	gh           *githubtest.Server
	builder      *fileBuilder
	old, head    string // neither is the branch head: bad is
	bad          string // its build fails
	installation int64
}

func startGitHub(t *testing.T, tweaks ...func(*operator.Config)) *ghFixture {
	t.Helper()
	repo := githubtest.NewRepo(t)
	old := repo.Commit("first", map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /app\n", "app.txt": "v1"})
	head := repo.Commit("second", map[string]string{"app.txt": "v2"})
	bad := repo.Commit("third", map[string]string{"app.txt": "fail"})
	gh := githubtest.Start(t, repo.Dir)
	fb := &fileBuilder{}
	h := start(t, append([]func(*operator.Config){func(c *operator.Config) { c.Builder = fb; c.AdminToken = adminToken }}, tweaks...)...)
	app := api.GitHubApp{AppID: gh.AppID, PrivateKey: gh.KeyPEM, WebhookSecret: gh.WebhookSecret, API: gh.URL}
	if code := h.call("PUT", "/v1/github/app", h.member("owner2@acme.test", "owner"), app, nil); code != http.StatusForbidden {
		t.Fatalf("an organisation owner who does not administer the installation set the operator's GitHub App: %d", code)
	}
	if code := h.call("PUT", "/v1/github/app", adminToken, app, nil); code != 200 {
		t.Fatalf("put github app: %d", code)
	}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	repoName := "acme/web"
	var p api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{Repo: &repoName}, &p); code != 200 || p.Repo != repoName {
		t.Fatalf("link repository: %d %+v", code, p)
	}
	return &ghFixture{harness: h, gh: gh, builder: fb, old: old, head: head, bad: bad, installation: 77}
}

// pushEvent is a push event's body as GitHub sends it (the parts read).
func (f *ghFixture) pushEvent(repo, branch, after string) []byte {
	return f.pushEventDefault(repo, branch, after, "main")
}

func (f *ghFixture) pushEventDefault(repo, branch, after, defaultBranch string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": strings.Repeat("0", 40), "after": after,
		"repository":   map[string]any{"full_name": repo, "default_branch": defaultBranch},
		"installation": map[string]any{"id": f.installation},
		"head_commit":  map[string]any{"id": after, "message": "second", "author": map[string]any{"name": "Dev"}},
	})
	return b
}

// webhookClient gives up on a delivery when GitHub does.
var webhookClient = &http.Client{Timeout: 10 * time.Second}

// deliver posts a webhook delivery; sig "" signs it with the App's secret.
func (f *ghFixture) deliver(event, delivery string, body []byte, sig string) (int, map[string]any) {
	f.t.Helper()
	if sig == "" {
		sig = github.Sign([]byte(f.gh.WebhookSecret), body)
	}
	req, _ := http.NewRequest("POST", f.url+"/v1/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if sig != "none" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		f.t.Error(err) // not Fatal: deliveries may run in goroutines
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (f *ghFixture) builds() []api.Build {
	var bs []api.Build
	if code := f.call("GET", "/v1/projects/web/builds", f.token, nil, &bs); code != 200 {
		f.t.Fatalf("list builds: %d", code)
	}
	return bs
}

// goLive plays the node: it reports every instance it is asked to run as
// healthy until the build's deployment is ready.
func (f *ghFixture) goLive(n *fakeNode, buildID string) api.Build {
	var b api.Build
	f.eventually("build "+buildID+" deployed", func() bool {
		for _, in := range running(n.desired()) {
			n.report(in.ID, api.InstanceHealthy, "")
		}
		f.call("GET", "/v1/builds/"+buildID, f.token, nil, &b)
		return b.Deployment != "" && f.deployment(b.Deployment).Status == api.StatusReady
	})
	return b
}

// statusesOf are the states posted for sha, in order.
func (f *ghFixture) statusesOf(sha string) []githubtest.Status {
	var out []githubtest.Status
	for _, s := range f.gh.Statuses() {
		if s.SHA == sha {
			out = append(out, s)
		}
	}
	return out
}

// TestGitHubPushBuildsThatCommit: a signed push builds and deploys the
// pushed commit, reported as pending then success with the project URL; a
// replayed delivery builds nothing again; a push whose commit is not the
// branch head builds that commit, not the head; one installation token
// serves both events.
func TestGitHubPushBuildsThatCommit(t *testing.T) {
	f := startGitHub(t)
	n := f.register("eu", "10.0.0.1:7443")

	body := f.pushEvent("acme/web", "main", f.head)
	code, out := f.deliver("push", "d-1", body, "")
	if code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	bs := f.builds()
	if len(bs) != 1 || bs[0].Commit != f.head || bs[0].Branch != "main" || bs[0].Source != "git" || bs[0].Preview {
		t.Fatalf("builds after push: %+v", bs)
	}
	f.goLive(n, bs[0].ID)
	f.eventually("success status", func() bool {
		st := f.statusesOf(f.head)
		return len(st) > 0 && st[len(st)-1].State == "success"
	})
	st := f.statusesOf(f.head)
	if st[0].State != "pending" || st[len(st)-1].TargetURL != "http://web.apps.test" || st[0].Context != "zeitwork/web" {
		t.Fatalf("statuses: %+v", st)
	}
	if got := f.builder.contents(); len(got) != 1 || got[0] != "v2" {
		t.Fatalf("built contents: %q, want the pushed commit's v2", got)
	}

	// The same delivery again (GitHub's redelivery, or a replay of the
	// signed body) builds nothing.
	if code, out := f.deliver("push", "d-1", body, ""); code != 200 || out["ignored"] == nil {
		t.Fatalf("replay: %d %v", code, out)
	}
	if bs := f.builds(); len(bs) != 1 {
		t.Fatalf("replay built again: %d builds", len(bs))
	}

	// A later delivery for the older commit (not the branch head) builds
	// exactly that commit.
	if code, out := f.deliver("push", "d-2", f.pushEvent("acme/web", "main", f.old), ""); code != http.StatusAccepted {
		t.Fatalf("push of the older commit: %d %v", code, out)
	}
	bs = f.builds()
	if len(bs) != 2 || bs[0].Commit != f.old {
		t.Fatalf("builds: %+v", bs)
	}
	f.goLive(n, bs[0].ID)
	if got := f.builder.contents(); len(got) != 2 || got[1] != "v1" {
		t.Fatalf("built contents: %q, want the older commit's v1", got)
	}
	if got := f.gh.Tarballs(); len(got) != 2 || got[1] != f.old {
		t.Fatalf("tarballs fetched: %v", got)
	}
	if n := f.gh.Exchanges(); n != 1 {
		t.Fatalf("installation token exchanges: %d, want 1 (cached)", n)
	}
}

// TestGitHubWebhookRefuses: what is not a signed push of a linked
// repository's branch builds nothing.
func TestGitHubWebhookRefuses(t *testing.T) {
	f := startGitHub(t)
	body := f.pushEvent("acme/web", "main", f.head)
	for _, tc := range []struct {
		name, event, sig string
		body             []byte
		want             int
	}{
		{"bad signature", "push", github.Sign([]byte("wrong"), body), body, 401},
		{"no signature", "push", "none", body, 401},
		{"signature of another body", "push", github.Sign([]byte(f.gh.WebhookSecret), []byte("{}")), body, 401},
		{"ping", "ping", "", []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`), 200},
		{"other event", "issues", "", []byte(`{"action":"opened"}`), 200},
		{"unlinked repository", "push", "", f.pushEvent("acme/other", "main", f.head), 200},
		{"deleted branch", "push", "", []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("0", 40) +
			`","deleted":true,"repository":{"full_name":"acme/web"},"installation":{"id":77}}`), 200},
		{"tag", "push", "", []byte(strings.Replace(string(body), "refs/heads/main", "refs/tags/v1", 1)), 200},
		{"malformed", "push", "", []byte(`{"after":"../../x","repository":{"full_name":"acme/web"}}`), 400},
		{"too large", "push", "", append(body, bytes.Repeat([]byte(" "), github.MaxPayload)...), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := f.deliver(tc.event, "d-"+tc.name, tc.body, tc.sig); code != tc.want {
				t.Fatalf("got %d %v, want %d", code, out, tc.want)
			}
		})
	}
	if bs := f.builds(); len(bs) != 0 {
		t.Fatalf("builds: %+v", bs)
	}
	if got := f.gh.Tarballs(); len(got) != 0 {
		t.Fatalf("tarballs fetched: %v", got)
	}
}

// TestGitHubPreviewAndFailureStatuses: a push to another branch deploys
// a preview reported with its versioned URL; a failing build is reported
// as a failure with the reason.
func TestGitHubPreviewAndFailureStatuses(t *testing.T) {
	f := startGitHub(t)
	n := f.register("eu", "10.0.0.1:7443")
	if code, out := f.deliver("push", "d-preview", f.pushEvent("acme/web", "feature", f.head), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	b := f.goLive(n, f.builds()[0].ID)
	if !b.Preview {
		t.Fatalf("a feature branch build is not a preview: %+v", b)
	}
	want := "http://" + api.VersionedLabel("web", b.Deployment) + ".apps.test"
	f.eventually("preview success status", func() bool {
		st := f.statusesOf(f.head)
		return len(st) > 0 && st[len(st)-1].State == "success" && st[len(st)-1].TargetURL == want
	})

	if code, out := f.deliver("push", "d-bad", f.pushEvent("acme/web", "main", f.bad), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	f.eventually("failure status", func() bool {
		st := f.statusesOf(f.bad)
		return len(st) > 0 && st[len(st)-1].State == "failure"
	})
	st := f.statusesOf(f.bad)
	if st[0].State != "pending" || !strings.Contains(st[len(st)-1].Description, "RUN exited with status 1") {
		t.Fatalf("statuses of the failing commit: %+v", st)
	}

	// A commit without the project's Dockerfile fails, with why, once its
	// build fetched it.
	df := "docker/Dockerfile"
	if code := f.call("PATCH", "/v1/projects/web", f.token, api.UpdateProjectRequest{Dockerfile: &df}, nil); code != 200 {
		t.Fatalf("set dockerfile: %d", code)
	}
	if code, out := f.deliver("push", "d-nodockerfile", f.pushEvent("acme/web", "main", f.old), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	f.eventually("build without its Dockerfile failed", func() bool { return f.builds()[0].Status == api.BuildFailed })
	if b := f.builds()[0]; !strings.Contains(b.Reason, "no Dockerfile at docker/Dockerfile") {
		t.Fatalf("build without its Dockerfile: %+v", b)
	}
	f.eventually("failure status for the missing Dockerfile", func() bool {
		st := f.statusesOf(f.old)
		return len(st) > 0 && st[len(st)-1].State == "failure" && strings.Contains(st[len(st)-1].Description, "no Dockerfile")
	})
}

// TestGitHubDefaultBranch: until a user picks the production branch, it
// is the repository's default branch as push events report it.
func TestGitHubDefaultBranch(t *testing.T) {
	f := startGitHub(t)
	if code, out := f.deliver("push", "d-1", f.pushEventDefault("acme/web", "trunk", f.head, "trunk"), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	if b := f.builds()[0]; b.Preview {
		t.Fatalf("a push to the default branch made a preview: %+v", b)
	}
	main := "main"
	var p api.Project
	if code := f.call("PATCH", "/v1/projects/web", f.token, api.UpdateProjectRequest{ProductionBranch: &main}, &p); code != 200 || p.ProductionBranch != "main" {
		t.Fatalf("set branch: %d %+v", code, p)
	}
	if code, out := f.deliver("push", "d-2", f.pushEventDefault("acme/web", "trunk", f.old, "trunk"), ""); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, out)
	}
	if b := f.builds()[0]; !b.Preview {
		t.Fatalf("the user's production branch was overridden by the default branch: %+v", b)
	}
}

// TestGitHubConcurrentRedeliveries: the same delivery arriving several
// times at once (a redelivery racing the original) builds once: the
// delivery ID is taken in the transaction that queues the build.
func TestGitHubConcurrentRedeliveries(t *testing.T) {
	f := startGitHub(t)
	body := f.pushEvent("acme/web", "main", f.head)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.deliver("push", "d-same", body, "")
		}()
	}
	wg.Wait()
	if bs := f.builds(); len(bs) != 1 {
		t.Fatalf("%d builds of one delivery", len(bs))
	}
}

// TestGitHubDeliveriesPruned: delivery IDs are forgotten after the
// retention, not before.
func TestGitHubDeliveriesPruned(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	for _, id := range []string{"old", "new"} {
		if _, err := h.store.InsertGitHubDelivery(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.Pool.Exec(ctx, "UPDATE github_deliveries SET received_at = now() - interval '8 days' WHERE id = 'old'"); err != nil {
		t.Fatal(err)
	}
	// The operator's own loop prunes too, so it may get there first:
	// what counts is which IDs are left, not who removed them.
	if _, err := h.store.PruneGitHubDeliveries(ctx, (7 * 24 * time.Hour).Seconds()); err != nil {
		t.Fatal(err)
	}
	if seen, _ := h.store.GitHubDeliverySeen(ctx, "old"); seen {
		t.Fatal("a delivery past the retention was kept")
	}
	if seen, _ := h.store.GitHubDeliverySeen(ctx, "new"); !seen {
		t.Fatal("a recent delivery was forgotten")
	}
}
