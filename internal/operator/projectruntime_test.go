package operator_test

import (
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// TestProjectRuntimeSettings: PATCH sets the port, health path, instance
// size and minimum per region under the create rules; the next
// deployment's instances are started with them. Bad values are refused
// with the field and a hint, and change nothing.
func TestProjectRuntimeSettings(t *testing.T) {
	h := start(t)
	n := h.registerSized("eu", "127.0.0.1:9", 8, 8192)
	h.liveProject(n, "web")
	num := func(v int) *int { return &v }
	var p api.Project
	if code := h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{
		Port: num(3000), HealthPath: ptr("/healthz"), MemoryMiB: num(512), VCPUs: num(2), MinInstancesPerRegion: num(2),
	}, &p); code != 200 {
		t.Fatalf("update: %d", code)
	}
	if p.Port != 3000 || p.HealthPath != "/healthz" || p.MemoryMiB != 512 || p.VCPUs != 2 || p.MinInstancesPerRegion != 2 {
		t.Fatalf("updated project: %+v", p)
	}

	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	h.eventually("the new deployment's 2 instances", func() bool { return len(n.runningOf(d.ID)) == 2 })
	for _, in := range n.runningOf(d.ID) {
		if in.Port != 3000 || in.HealthPath != "/healthz" || in.MemoryMiB != 512 || in.VCPUs != 2 {
			t.Errorf("instance %s started with port %d, health %q, %d MiB, %d vCPUs; want the new settings",
				in.ID, in.Port, in.HealthPath, in.MemoryMiB, in.VCPUs)
		}
	}

	// The health check goes back to TCP with an empty path.
	p = api.Project{}
	if h.call("PATCH", "/v1/projects/web", h.token, api.UpdateProjectRequest{HealthPath: ptr("")}, &p); p.Name != "web" || p.HealthPath != "" {
		t.Errorf("empty health path: %q", p.HealthPath)
	}
	for _, c := range []struct {
		req  api.UpdateProjectRequest
		want string
	}{
		{api.UpdateProjectRequest{Port: num(0)}, "invalid port 0"},
		{api.UpdateProjectRequest{Port: num(70000)}, "invalid port 70000"},
		{api.UpdateProjectRequest{HealthPath: ptr("healthz")}, "invalid health_path"},
		{api.UpdateProjectRequest{MemoryMiB: num(32)}, "invalid memory_mib 32"},
		{api.UpdateProjectRequest{VCPUs: num(65)}, "invalid vcpus 65"},
		{api.UpdateProjectRequest{MinInstancesPerRegion: num(0)}, "invalid min_instances_per_region 0"},
		{api.UpdateProjectRequest{Port: num(4000), VCPUs: num(0)}, "invalid vcpus 0"},
	} {
		var e api.Error
		if code := h.call("PATCH", "/v1/projects/web", h.token, c.req, &e); code != 400 || !strings.Contains(e.Error, c.want) {
			t.Errorf("%+v: %d %+v, want 400 %q", c.req, code, e, c.want)
		}
	}
	h.call("GET", "/v1/projects/web", h.token, nil, &p)
	if p.Port != 3000 || p.VCPUs != 2 || p.MemoryMiB != 512 || p.MinInstancesPerRegion != 2 {
		t.Errorf("refused updates changed the project: %+v", p)
	}
}
