package operator_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

// contextArchive is a tar.gz of files (name -> content).
func contextArchive(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

var dockerfile = map[string]string{"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "bin"}

// upload posts a build context and returns the status and the build.
func upload(t *testing.T, url, token, project, query string, archive []byte) (int, api.Build, api.Error) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/projects/"+project+"/builds"+query, bytes.NewReader(archive))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var b api.Build
	var e api.Error
	json.Unmarshal(body, &b)
	json.Unmarshal(body, &e)
	return resp.StatusCode, b, e
}

func getBuild(t *testing.T, url, token, id string) api.Build {
	t.Helper()
	var b api.Build
	req, _ := http.NewRequest("GET", url+"/v1/builds/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&b)
	return b
}

func waitBuild(t *testing.T, url, token, id string, final ...string) api.Build {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b := getBuild(t, url, token, id)
		for _, f := range final {
			if b.Status == f {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %s is %s (%s), want %v", id, b.Status, b.Reason, final)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func withBuilder(b build.Builder) func(*operator.Config) {
	return func(c *operator.Config) { c.Builder = b }
}

func TestBuildUploadDeploys(t *testing.T) {
	fake := &operatortest.Builder{}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	code, b, e := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	if code != http.StatusAccepted || b.Status != api.BuildQueued || b.Source != "upload" || b.Preview {
		t.Fatalf("upload: %d %+v %+v", code, b, e)
	}
	b = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	if b.Status != api.BuildDone || b.Deployment == "" || !strings.HasPrefix(b.Digest, "sha256:") || b.Timings["extract"] < 0 || b.Timings["deploy"] < 0 {
		t.Fatalf("build: %+v", b)
	}
	d := h.deployment(b.Deployment)
	host := strings.TrimPrefix(h.url, "http://")
	if d.Image != host+"/web@"+b.Digest || d.Preview {
		t.Fatalf("deployment %+v is not pinned to the build's digest %s", d, b.Digest)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Push != host+"/web:build-"+b.ID[:8] || reqs[0].Dockerfile != "Dockerfile" || len(reqs[0].Args) != 0 {
		t.Fatalf("requests: %+v", reqs)
	}
	if _, err := os.Stat(reqs[0].ContextDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("build directory %s left behind: %v", reqs[0].ContextDir, err)
	}
	var lines []api.BuildLogLine
	h.call("GET", "/v1/builds/"+b.ID+"/logs", h.token, nil, &lines)
	text := ""
	for _, l := range lines {
		text += l.Text + "\n"
	}
	if !strings.Contains(text, "STEP 1/1: FROM scratch") || !strings.Contains(text, "deployment "+b.Deployment+" created") {
		t.Fatalf("log:\n%s", text)
	}
	if strings.Contains(text, reqs[0].PushPassword) {
		t.Fatal("the push credential reached the build log")
	}
	// The context archive is gone once the build ended.
	var n int
	h.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM build_contexts").Scan(&n)
	if n != 0 {
		t.Fatalf("%d build contexts left", n)
	}
	var list []api.Build
	if code := h.call("GET", "/v1/projects/web/builds", h.token, nil, &list); code != 200 || len(list) != 1 || list[0].Deployment != b.Deployment {
		t.Fatalf("list: %d %+v", code, list)
	}
}

// TestBuildFromContainerfile: a context with a Containerfile and no
// Dockerfile builds from it when the project names no other file (the
// CLI sends the default name), and the build log says which file.
func TestBuildFromContainerfile(t *testing.T) {
	fake := &operatortest.Builder{}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	for _, query := range []string{"", "?dockerfile=Dockerfile"} {
		code, b, e := upload(t, h.url, h.token, "web", query, contextArchive(t, map[string]string{"Containerfile": "FROM scratch"}))
		if code != http.StatusAccepted {
			t.Fatalf("upload%s: %d %+v", query, code, e)
		}
		if b = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed); b.Status != api.BuildDone {
			t.Fatalf("build%s: %+v", query, b)
		}
		var lines []api.BuildLogLine
		h.call("GET", "/v1/builds/"+b.ID+"/logs", h.token, nil, &lines)
		text := ""
		for _, l := range lines {
			text += l.Text + "\n"
		}
		if !strings.Contains(text, "(Containerfile, as the context has no Dockerfile)") || !strings.Contains(text, "STEP 1/1: FROM scratch") {
			t.Fatalf("log%s:\n%s", query, text)
		}
	}
	for _, r := range fake.Requests() {
		if r.Dockerfile != "Containerfile" {
			t.Errorf("builder asked for %q, want Containerfile", r.Dockerfile)
		}
	}
}

func TestBuildBranchesMakePreviews(t *testing.T) {
	h := start(t, withBuilder(&operatortest.Builder{}))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, main, _ := upload(t, h.url, h.token, "web", "?branch=main", contextArchive(t, dockerfile))
	_, feat, _ := upload(t, h.url, h.token, "web", "?branch=feature", contextArchive(t, dockerfile))
	if main.Preview || !feat.Preview {
		t.Fatalf("main preview=%v, feature preview=%v", main.Preview, feat.Preview)
	}
	feat = waitBuild(t, h.url, h.token, feat.ID, api.BuildDone, api.BuildFailed)
	if d := h.deployment(feat.Deployment); !d.Preview {
		t.Fatalf("deployment of a feature branch is not a preview: %+v", d)
	}
	// The production branch is a project setting.
	var p api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{ProductionBranch: ptr("feature")}, &p); code != 200 || p.ProductionBranch != "feature" {
		t.Fatalf("set production branch: %d %+v", code, p)
	}
	_, feat2, _ := upload(t, h.url, h.token, "web", "?branch=feature", contextArchive(t, dockerfile))
	_, main2, _ := upload(t, h.url, h.token, "web", "?branch=main", contextArchive(t, dockerfile))
	if feat2.Preview || !main2.Preview {
		t.Fatalf("after the switch: feature preview=%v, main preview=%v", feat2.Preview, main2.Preview)
	}
	for _, bad := range []string{"", "a..b", "-x", "has space", "x.lock"} {
		if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{ProductionBranch: &bad}, nil); code != 400 {
			t.Errorf("branch %q: %d", bad, code)
		}
	}
}

func TestBuildRefusesBadUploads(t *testing.T) {
	h := start(t, withBuilder(&operatortest.Builder{}), func(c *operator.Config) { c.BuildContextMaxBytes = 64 << 10 })
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	big := map[string]string{"Dockerfile": "FROM scratch", "big": strings.Repeat("x", 100<<10)}
	var raw bytes.Buffer // uncompressed, so that the upload itself is too big
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "big", Size: 100 << 10, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, 100<<10))
	tw.Close()
	tests := []struct {
		name    string
		query   string
		archive []byte
		code    int
		want    string
	}{
		{"dot dot", "", contextArchive(t, map[string]string{"Dockerfile": "x", "../evil": "x"}), 400, "leaves the context"},
		{"absolute path", "", contextArchive(t, map[string]string{"Dockerfile": "x", "/etc/evil": "x"}), 400, "absolute"},
		{"no Dockerfile", "", contextArchive(t, map[string]string{"app": "x"}), 400, "no Dockerfile (or Containerfile)"},
		{"named Dockerfile missing", "?dockerfile=docker/Dockerfile", contextArchive(t, map[string]string{"Containerfile": "x"}), 400, "no Dockerfile at docker/Dockerfile"},
		{"dockerfile outside", "?dockerfile=../Dockerfile", contextArchive(t, dockerfile), 400, "leaves the context"},
		{"target like a flag", "?target=--network%3Dhost", contextArchive(t, dockerfile), 400, "invalid target"},
		{"bad branch", "?branch=a..b", contextArchive(t, dockerfile), 400, "invalid branch"},
		{"over the limit once extracted", "", contextArchive(t, big), 413, "MiB"},
		{"upload over the limit", "", raw.Bytes(), 413, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, e := upload(t, h.url, h.token, "web", tt.query, tt.archive)
			if code != tt.code || !strings.Contains(e.Error, tt.want) || e.Hint == "" {
				t.Fatalf("got %d %+v, want %d with %q and a hint", code, e, tt.code, tt.want)
			}
		})
	}
	var list []api.Build
	h.call("GET", "/v1/projects/web/builds", h.token, nil, &list)
	if len(list) != 0 {
		t.Fatalf("bad uploads queued builds: %+v", list)
	}
}

func TestBuildWithoutBuilder(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	code, _, e := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	if code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "no builder configured") {
		t.Fatalf("got %d %+v", code, e)
	}
}

// TestBuildOfAnotherOrganisation: another organisation's build is a 404.
func TestBuildOfAnotherOrganisation(t *testing.T) {
	h := start(t, withBuilder(&operatortest.Builder{}))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	other, err := operator.Bootstrap(context.Background(), h.store, "other", "eve@other.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/builds/" + b.ID}, {"GET", "/v1/builds/" + b.ID + "/logs"}, {"POST", "/v1/builds/" + b.ID + "/cancel"},
	} {
		if code := h.call(c.method, c.path, other, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s %s by another organisation: %d", c.method, c.path, code)
		}
	}
}

func TestBuildFailures(t *testing.T) {
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		switch {
		case strings.Contains(req.Target, "bad"):
			return fmt.Errorf("%w: RUN false: exit status 1\nSTEP 2/2: RUN false", build.ErrUser)
		case req.Target == "slow":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	h := start(t, withBuilder(fake), func(c *operator.Config) { c.BuildTimeout = 500 * time.Millisecond })
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, bad, _ := upload(t, h.url, h.token, "web", "?target=bad", contextArchive(t, dockerfile))
	bad = waitBuild(t, h.url, h.token, bad.ID, api.BuildFailed, api.BuildDone)
	if bad.Status != api.BuildFailed || bad.Reason != "RUN false: exit status 1\nSTEP 2/2: RUN false" {
		t.Fatalf("failing RUN: %+v (want the reason without a second \"build failed\")", bad)
	}
	// The log's last line sums the failure up in one line; the tail the
	// reason carries is in the log already.
	var lines []api.BuildLogLine
	h.call("GET", "/v1/builds/"+bad.ID+"/logs", h.token, nil, &lines)
	if n := len(lines); n == 0 || lines[n-1].Text != "zeitwork: build failed: RUN false: exit status 1" {
		t.Fatalf("failed build's log: %+v", lines)
	}
	_, slow, _ := upload(t, h.url, h.token, "web", "?target=slow", contextArchive(t, dockerfile))
	slow = waitBuild(t, h.url, h.token, slow.ID, api.BuildFailed, api.BuildDone)
	if slow.Status != api.BuildFailed || !strings.Contains(slow.Reason, "time limit") {
		t.Fatalf("slow build: %+v", slow)
	}
	var list []api.Deployment
	h.call("GET", "/v1/projects/web/deployments", h.token, nil, &list)
	if len(list) != 0 {
		t.Fatalf("failed builds made deployments: %+v", list)
	}
}

// TestBuildCancelAcrossReplicas: a build cancelled through one replica
// stops on the replica that runs it, promptly (the lease is long, so only
// the notification can stop it in time).
func TestBuildCancelAcrossReplicas(t *testing.T) {
	dbURL := storetest.URL(t)
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	}}
	a := operatortest.StartOn(t, dbURL, withBuilder(fake), func(c *operator.Config) { c.BuildLease = time.Hour })
	b := operatortest.StartOn(t, dbURL) // serves the API, runs no builds
	h := &harness{t: t, url: b.URL, store: b.Store, token: b.Token, srv: b}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, bd, _ := upload(t, a.URL, a.Token, "web", "", contextArchive(t, dockerfile))
	<-started
	var cancelled api.Build
	if code := h.call("POST", "/v1/builds/"+bd.ID+"/cancel", h.token, nil, &cancelled); code != 200 || cancelled.Status != api.BuildCancelled {
		t.Fatalf("cancel: %d %+v", code, cancelled)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the running build's context was not cancelled")
	}
	if got := waitBuild(t, h.url, h.token, bd.ID, api.BuildCancelled); got.Deployment != "" {
		t.Fatalf("a cancelled build made a deployment: %+v", got)
	}
	if code := h.call("POST", "/v1/builds/"+bd.ID+"/cancel", h.token, nil, nil); code != http.StatusConflict {
		t.Fatalf("second cancel: %d", code)
	}
}

// TestTwoOperatorsRunEachBuildOnce: replicas sharing one database claim
// every queued build exactly once.
func TestTwoOperatorsRunEachBuildOnce(t *testing.T) {
	dbURL := storetest.URL(t)
	var running, most atomic.Int32
	fake := &operatortest.Builder{}
	hook := func(ctx context.Context, req build.Request) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond) // overlap the replicas' builds
		return nil
	}
	// Queue the builds first, in the store, so that both builders start
	// claiming from a full queue at the same moment.
	api0 := operatortest.StartOn(t, dbURL)
	h := &harness{t: t, url: api0.URL, store: api0.Store, token: api0.Token, srv: api0}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	var ids []string
	for range 16 {
		ids = append(ids, queueBuild(t, h.store, "web"))
	}
	fake.Hook = hook
	a := operatortest.StartOn(t, dbURL, withBuilder(fake))
	operatortest.StartOn(t, dbURL, withBuilder(fake))
	for _, id := range ids {
		if got := waitBuild(t, a.URL, a.Token, id, api.BuildDone, api.BuildFailed); got.Status != api.BuildDone {
			t.Fatalf("build %s: %+v", id, got)
		}
	}
	counts := fake.Counts()
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("build %s ran %d times", id, counts[id])
		}
	}
	if len(counts) != len(ids) || most.Load() > 2 {
		t.Fatalf("counts %v, most at once %d (limit 1 per replica)", counts, most.Load())
	}
}

// TestBuildCrashRecovery: a build whose replica died (its lease expired)
// is queued again once and runs; one that already had its retry fails;
// pushing counts as running, as building does.
func TestBuildCrashRecovery(t *testing.T) {
	dbURL := storetest.URL(t)
	ctx := context.Background()
	first := operatortest.StartOn(t, dbURL) // creates organisation acme
	h := &harness{t: t, url: first.URL, store: first.Store, token: first.Token, srv: first}
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	orphan := func(status string, attempts int) string {
		id := queueBuild(t, h.store, "web")
		_, err := h.store.Pool.Exec(ctx, `UPDATE builds SET status = $3, attempts = $2, lease_owner = 'dead/1',
			lease_expires_at = now() - interval '1 second' WHERE id = $1`, id, attempts, status)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	retried, failed := orphan(api.BuildBuilding, 1), orphan(api.BuildBuilding, 2)
	// A replica that died while pushing is recovered alike.
	retriedPush, failedPush := orphan(api.BuildPushing, 1), orphan(api.BuildPushing, 2)
	fake := &operatortest.Builder{}
	operatortest.StartOn(t, dbURL, withBuilder(fake), func(c *operator.Config) { c.BuildLease = time.Second })
	if got := waitBuild(t, h.url, h.token, retried, api.BuildDone, api.BuildFailed); got.Status != api.BuildDone || got.Attempts != 2 {
		t.Fatalf("retried build: %+v", got)
	}
	if got := waitBuild(t, h.url, h.token, failed, api.BuildFailed, api.BuildDone); !strings.Contains(got.Reason, "stopped 2 times") {
		t.Fatalf("build past its retry: %+v", got)
	}
	if got := waitBuild(t, h.url, h.token, retriedPush, api.BuildDone, api.BuildFailed); got.Status != api.BuildDone || got.Attempts != 2 {
		t.Fatalf("retried pushing build: %+v", got)
	}
	if got := waitBuild(t, h.url, h.token, failedPush, api.BuildFailed, api.BuildDone); !strings.Contains(got.Reason, "stopped 2 times") {
		t.Fatalf("pushing build past its retry: %+v", got)
	}
	if c := fake.Counts(); c[retried] != 1 || c[failed] != 0 || c[retriedPush] != 1 || c[failedPush] != 0 {
		t.Fatalf("counts: %v", c)
	}
}

// TestBuildLogStream: with Accept: text/event-stream the log follows the
// build as it runs and ends with the finished build.
func TestBuildLogStream(t *testing.T) {
	release := make(chan struct{})
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		io.WriteString(req.Log, "step one\n")
		<-release
		io.WriteString(req.Log, "step two\n")
		return nil
	}}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	req, _ := http.NewRequest("GET", h.url+"/v1/builds/"+b.ID+"/logs", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var seen []string
	end := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "event: end" {
			sc.Scan()
			end = strings.TrimPrefix(sc.Text(), "data: ")
			break
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var l api.BuildLogLine
		json.Unmarshal([]byte(data), &l)
		seen = append(seen, l.Text)
		if l.Text == "step one" {
			close(release) // the stream shows lines while the build runs
		}
	}
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "step one\nstep two") {
		t.Fatalf("streamed:\n%s", all)
	}
	var done api.Build
	if json.Unmarshal([]byte(end), &done); done.Status != api.BuildDone {
		t.Fatalf("end event: %q", end)
	}
}

// queueBuild queues a build of project (of organisation acme) in the
// store, as POST .../builds does, without any replica's API.
func queueBuild(t *testing.T, s *store.Store, project string) string {
	t.Helper()
	ctx := context.Background()
	org, err := s.GetOrganisationByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.GetProjectByName(ctx, db.GetProjectByNameParams{OrganisationID: org.ID, Name: project})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateBuild(ctx, db.CreateBuildParams{ID: uuid.New(), ProjectID: p.ID, Source: "upload", Dockerfile: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBuildContext(ctx, db.PutBuildContextParams{BuildID: b.ID, Archive: contextArchive(t, dockerfile)}); err != nil {
		t.Fatal(err)
	}
	return b.ID.String()
}

// TestBuildPushTokenIsScoped: the credential a builder pushes with works
// only in the registry, only for the build's organisation, and only while
// the build runs.
func TestBuildPushTokenIsScoped(t *testing.T) {
	codes := map[string]int{}
	var url string
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.SetBasicAuth("zeitwork", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		codes["api"] = get("/v1/status", req.PushPassword)
		codes["own"] = get("/v2/web/tags/list", req.PushPassword)
		codes["other"] = get("/v2/theirs/tags/list", req.PushPassword)
		return nil
	}}
	h := start(t, withBuilder(fake))
	url = h.url
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	other, _ := operator.Bootstrap(context.Background(), h.store, "other", "eve@other.test")
	h.call("POST", "/v1/projects", other, api.CreateProjectRequest{Name: "theirs"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	waitBuild(t, h.url, h.token, b.ID, api.BuildDone)
	if codes["api"] != http.StatusForbidden || codes["other"] != http.StatusForbidden || codes["own"] == http.StatusForbidden || codes["own"] == http.StatusUnauthorized {
		t.Fatalf("push token answers: %v", codes)
	}
	if code := get("/v2/", fake.Requests()[0].PushPassword); code != http.StatusUnauthorized {
		t.Fatalf("push token after the build: %d", code)
	}
}

// TestCancelQueuedBuild: a build cancelled before any replica claimed it
// never runs, and its context archive is deleted.
func TestCancelQueuedBuild(t *testing.T) {
	release := make(chan struct{})
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		<-release
		return nil
	}}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, first, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	waitBuild(t, h.url, h.token, first.ID, api.BuildBuilding) // takes the one slot
	_, queued, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	if code := h.call("POST", "/v1/builds/"+queued.ID+"/cancel", h.token, nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	close(release)
	waitBuild(t, h.url, h.token, first.ID, api.BuildDone)
	if got := getBuild(t, h.url, h.token, queued.ID); got.Status != api.BuildCancelled || fake.Counts()[queued.ID] != 0 {
		t.Fatalf("cancelled queued build: %+v, ran %d times", got, fake.Counts()[queued.ID])
	}
	var n int
	h.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM build_contexts").Scan(&n)
	if n != 0 {
		t.Fatalf("%d build contexts left", n)
	}
}

// TestStuckBuilderDoesNotHoldTheBuild: a Builder that ignores its
// context past the time limit does not keep the build running for ever.
func TestStuckBuilderDoesNotHoldTheBuild(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fake := &operatortest.Builder{Hook: func(ctx context.Context, req build.Request) error {
		<-release // ignores ctx
		return nil
	}}
	h := start(t, withBuilder(fake), func(c *operator.Config) {
		c.BuildTimeout = 200 * time.Millisecond
		c.BuildLease = 600 * time.Millisecond
	})
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	if got := waitBuild(t, h.url, h.token, b.ID, api.BuildFailed, api.BuildDone); got.Status != api.BuildFailed || !strings.Contains(got.Reason, "time limit") {
		t.Fatalf("build with a stuck builder: %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestBuildPushingStage: a build is pushing while its builder pushes,
// with the build stage's time stored already; cancelling it then stops
// the push and makes no deployment.
func TestBuildPushingStage(t *testing.T) {
	pushing := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	fake := &operatortest.Builder{PushHook: func(ctx context.Context, req build.Request) error {
		pushing <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	}}
	h := start(t, withBuilder(fake), func(c *operator.Config) { c.BuildLease = time.Hour })
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	<-pushing
	got := waitBuild(t, h.url, h.token, b.ID, api.BuildPushing)
	if _, ok := got.Timings["build"]; !ok {
		t.Fatalf("pushing build without its build time: %+v", got)
	}
	if _, ok := got.Timings["extract"]; !ok {
		t.Fatalf("pushing build without its extract time: %+v", got)
	}
	var cancelled api.Build
	if code := h.call("POST", "/v1/builds/"+b.ID+"/cancel", h.token, nil, &cancelled); code != 200 || cancelled.Status != api.BuildCancelled {
		t.Fatalf("cancel while pushing: %d %+v", code, cancelled)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the push was not stopped")
	}
	if got := waitBuild(t, h.url, h.token, b.ID, api.BuildCancelled); got.Deployment != "" {
		t.Fatalf("a build cancelled while pushing made a deployment: %+v", got)
	}
}

// TestBuildPushFailsAndTimes: a push that fails fails the build from
// pushing, with the reason; a build that succeeds has every stage timed,
// from the upload's receive on.
func TestBuildPushFailsAndTimes(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	fake := &operatortest.Builder{PushHook: func(ctx context.Context, req build.Request) error {
		if fail.Load() {
			return errors.New("registry said 507 insufficient storage")
		}
		return nil
	}}
	h := start(t, withBuilder(fake))
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	_, b, _ := upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	got := waitBuild(t, h.url, h.token, b.ID, api.BuildFailed, api.BuildDone)
	if got.Status != api.BuildFailed || !strings.Contains(got.Reason, "507 insufficient storage") {
		t.Fatalf("build whose push failed: %+v", got)
	}
	if _, ok := got.Timings["push"]; !ok {
		t.Fatalf("failed push not timed: %v", got.Timings)
	}
	fail.Store(false)
	_, b, _ = upload(t, h.url, h.token, "web", "", contextArchive(t, dockerfile))
	got = waitBuild(t, h.url, h.token, b.ID, api.BuildDone, api.BuildFailed)
	for _, stage := range []string{"receive", "extract", "build", "push", "deploy"} {
		if _, ok := got.Timings[stage]; got.Status != api.BuildDone || !ok {
			t.Fatalf("build %s: no %s timing: %+v", got.Status, stage, got)
		}
	}
}
