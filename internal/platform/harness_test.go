package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/image"
)

// env is one running platform for a test, driven through its public API and
// the CLI's functions, as a user would.
type env struct {
	t     *testing.T
	p     *Platform
	login cli.Config
	dir   string
}

func startEnv(t *testing.T, tweaks ...func(*Config)) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end tests need root (tap devices, network namespaces); run them as root as CI does")
	}
	dir := t.TempDir()
	b := byte(os.Getpid()%150 + 50)
	// StartTimeout: CI runs the test bed's VMs beside these on 2 cores,
	// and a cold boot under TCG then once took over 20 s to listen (all
	// three of a deploy failed); production's default is 60 s.
	cfg := Config{
		StateDir:      dir,
		APIListen:     "127.0.0.1:0",
		EdgeListen:    "127.0.0.1:0",
		NetName:       "zwe" + strconv.Itoa(os.Getpid()%100000),
		Subnet:        netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 241, b, 0}), 24),
		Transit:       netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 242, b, 0}), 30),
		Resync:        500 * time.Millisecond,
		StartTimeout:  40 * time.Second,
		DeployTimeout: 3 * time.Minute,
		Heartbeat:     time.Second,
		UsageInterval: 2 * time.Second,
		MetricsListen: "127.0.0.1:0",
		Log:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	ctx := context.Background()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, p: p, login: cli.Config{APIURL: p.APIURL, Token: p.Token}, dir: dir}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// sampleLayout builds the sample app with cfg into an OCI layout.
func (e *env) sampleLayout(name string, cfg image.ImageConfig) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, "images", name)
	if _, err := examples.BuildSampleImage(context.Background(), "", dir, cfg); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

func (e *env) createProject(name, healthPath string) {
	e.t.Helper()
	if err := cli.CreateProject(context.Background(), e.login, api.CreateProjectRequest{Name: name, HealthPath: healthPath}); err != nil {
		e.t.Fatal(err)
	}
}

// deploy runs the CLI's deploy path (push, create, follow) and returns the
// deployment whatever its outcome.
func (e *env) deploy(project, ref string) (api.Deployment, error) {
	e.t.Helper()
	return cli.Deploy(context.Background(), e.login, testWriter{e.t}, project, ref)
}

func (e *env) getDeployment(id string) api.Deployment {
	e.t.Helper()
	var d api.Deployment
	e.api("GET", "/v1/deployments/"+id, &d)
	return d
}

func (e *env) api(method, path string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.p.APIURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// get fetches path from the edge with the given Host.
func (e *env) get(host, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", e.p.EdgeURL+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// eventually polls cond until it holds or the deadline passes.
func (e *env) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		<-tick.C
	}
	e.t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

func (e *env) host(label string) string { return label + ".localhost" }

// qemuPID reads the pid the driver recorded for an instance's VM.
func (e *env) qemuPID(instance string) int {
	b, err := os.ReadFile(filepath.Join(e.dir, "vms", instance, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func healthyIDs(d api.Deployment) []string {
	var ids []string
	for _, in := range d.Instances {
		if in.Desired == "running" && in.State == api.InstanceHealthy {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

func describe(d api.Deployment) string {
	var parts []string
	for _, in := range d.Instances {
		parts = append(parts, fmt.Sprintf("%s:%s/%s(%s)", in.ID[:8], in.Desired, in.State, in.Reason))
	}
	return d.Status + " " + d.Reason + " [" + strings.Join(parts, " ") + "]"
}

// apiBody sends a raw body with a token and decodes the answer into out.
func (e *env) apiBody(method, path, body, token string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.p.APIURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
