package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

// bench holds the running platform.
type bench struct {
	p         *platform.Platform
	login     cli.Config
	dir       string
	sampleBin string // the sample app's build context, binary compiled
	source    string // sourceGit or sourceUpload
}

// sample is one source-to-live run, in milliseconds.
type sample struct {
	deployment string
	total      float64 // push or upload start to the project URL answering the new version
	receive    float64 // git push or pack and upload the context, until the build is queued
	checked    float64 // of receive: the operator reading and checking the context (the build's receive timing)
	queue      float64 // queued to picked up
	extract    float64 // unpack the context on the operator
	setup      float64 // build log: "zeitwork: building" to buildah's first line
	bud        float64 // buildah bud
	push       float64 // push to the built-in registry
	deploy     float64 // create the deployment
	build      float64 // the build stage: picked up to image built, push and deploy left out
	pull       float64 // image resolve, unpack, root disk, disk copy
	boot       float64 // VM start to the app listening
	healthy    float64 // app listening to the host's health check passing
	schedule   float64 // rest of deployment created to ready: scheduling, agent, reports
	rollout    float64 // deployment created to ready
	switchTo   float64 // ready to the edge answering the new version
	cached     int     // steps the build log says came from the cache
	load       float64 // the host's 1-minute load average at the start
}

// once builds version of v in project and waits until the project URL
// answers it through the edge.
func (b *bench) once(ctx context.Context, v variant, project, base, version string) (sample, error) {
	var s sample
	src, err := os.MkdirTemp(b.dir, "context-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(src)
	if err := v.context(b, src, base, version); err != nil {
		return s, fmt.Errorf("write context: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var repo, sha string
	if b.source == sourceGit {
		if repo, sha, err = b.commitVersion(ctx, project, src, version); err != nil {
			return s, err
		}
	}
	s.load = loadAverage()
	start := time.Now()
	live := b.watchEdge(ctx, project, v.path, v.want(version))

	var bld api.Build
	var push *gitPush
	if b.source == sourceGit {
		if push, err = b.startPush(ctx, project, repo); err != nil {
			return s, fmt.Errorf("git push: %w", err)
		}
		defer push.stop()
		if bld, err = b.awaitBuild(ctx, project, sha); err != nil {
			return s, err
		}
		s.receive = ms(bld.CreatedAt.Sub(start))
	} else {
		var archive bytes.Buffer
		if _, err := buildcontext.Pack(src, "Dockerfile", &archive, 100<<20); err != nil {
			return s, err
		}
		if err := b.do(ctx, "POST", "/v1/projects/"+project+"/builds", &archive, &bld); err != nil {
			return s, fmt.Errorf("upload: %w", err)
		}
		s.receive = ms(time.Since(start))
	}

	for bld.Status != api.BuildDone {
		if bld.Status == api.BuildFailed || bld.Status == api.BuildCancelled {
			return s, fmt.Errorf("build %s %s: %s", bld.ID, bld.Status, bld.Reason)
		}
		if err := b.poll(ctx); err != nil {
			return s, fmt.Errorf("build %s stayed %s: %w", bld.ID, bld.Status, err)
		}
		if err := b.do(ctx, "GET", "/v1/builds/"+bld.ID, nil, &bld); err != nil {
			return s, err
		}
	}
	if err := b.buildStages(ctx, bld, &s); err != nil {
		return s, err
	}

	var d api.Deployment
	for d.Status != api.StatusReady {
		if d.Status == api.StatusFailed {
			return s, fmt.Errorf("deployment %s failed: %s", d.ID, d.Reason)
		}
		if err := b.poll(ctx); err != nil {
			return s, fmt.Errorf("deployment %s stayed %s: %w", bld.Deployment, d.Status, err)
		}
		if err := b.do(ctx, "GET", "/v1/deployments/"+bld.Deployment, nil, &d); err != nil {
			return s, err
		}
	}
	s.deployment = d.ID
	rolloutStages(d, &s)

	select {
	case at := <-live:
		s.total = ms(at.Sub(start))
		s.switchTo = ms(at.Sub(*d.ReadyAt))
	case <-ctx.Done():
		return s, fmt.Errorf("the project URL never answered %q", v.want(version))
	}
	if push != nil {
		// The push ends with the rollout; it must have succeeded.
		return s, push.wait()
	}
	return s, nil
}

// buildStages fills in s from the build's timings and its log.
func (b *bench) buildStages(ctx context.Context, bld api.Build, s *sample) error {
	if bld.StartedAt == nil || bld.FinishedAt == nil {
		return fmt.Errorf("build %s has no start or end time", bld.ID)
	}
	s.queue = ms(bld.StartedAt.Sub(bld.CreatedAt))
	t := func(k string) float64 { return float64(bld.Timings[k]) }
	s.checked, s.extract, s.bud, s.push, s.deploy = t("receive"), t("extract"), t("build"), t("push"), t("deploy")
	s.build = ms(bld.FinishedAt.Sub(*bld.StartedAt)) - s.push - s.deploy

	var lines []api.BuildLogLine
	if err := b.do(ctx, "GET", "/v1/builds/"+bld.ID+"/logs", nil, &lines); err != nil {
		return err
	}
	for i, l := range lines {
		if strings.HasPrefix(l.Text, "zeitwork: building") && i+1 < len(lines) {
			s.setup = ms(lines[i+1].Time.Sub(l.Time))
		}
		if strings.Contains(l.Text, "Using cache") {
			s.cached++
		}
	}
	return nil
}

// rolloutStages fills in s from the deployment's instance boot timings,
// each stage its slowest instance's.
func rolloutStages(d api.Deployment, s *sample) {
	s.rollout = ms(d.ReadyAt.Sub(d.CreatedAt))
	for _, in := range d.Instances {
		if in.State != api.InstanceHealthy {
			continue
		}
		t := in.BootTimings
		s.pull = max(s.pull, t["image_resolve"]+t["image_unpack"]+t["rootfs_build"]+t["disk_copy"])
		boot := t["vm_to_init"] + t["init_to_listening"]
		s.boot = max(s.boot, boot)
		s.healthy = max(s.healthy, t["vm_to_healthy"]-boot)
	}
	s.schedule = s.rollout - s.pull - s.boot - s.healthy
}

// watchEdge polls the project URL through the edge until it answers want,
// and sends the time it first did.
func (b *bench) watchEdge(ctx context.Context, project, path, want string) <-chan time.Time {
	live := make(chan time.Time, 1)
	go func() {
		client := &http.Client{Timeout: 5 * time.Second}
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", b.p.EdgeURL+path, nil)
			req.Host = project + ".localhost"
			if resp, err := client.Do(req); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && string(body) == want {
					live <- time.Now()
					return
				}
			}
			// A short pause between polls, so that the watcher does not
			// take a core from the build it measures.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return live
}

// poll waits between two polls of the API.
func (b *bench) poll(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
		return nil
	}
}

// do calls the API; body, when set, is a context archive.
func (b *bench) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.login.APIURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.login.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// loadAverage is the host's 1-minute load average: the machine is shared,
// and the report shows how busy it was.
func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
