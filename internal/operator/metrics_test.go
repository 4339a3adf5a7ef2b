package operator_test

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// value reads the series of a metric family whose labels include the
// given name, value pairs, from the harness's registry.
func (h *harness) value(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.metrics.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
	}
	h.t.Fatalf("no series %s%q", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	have := map[string]string{}
	for _, lp := range m.GetLabel() {
		have[lp.GetName()] = lp.GetValue()
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if have[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

func TestMetricsFollowReports(t *testing.T) {
	h := start(t)
	h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "web"}, nil)
	n := h.register("eu", "10.0.0.1:7443")
	ref := h.pushImage("web", image.ImageConfig{Entrypoint: []string{"/app"}})
	if got := h.value("zeitwork_instances", "state", api.InstanceHealthy); got != 0 {
		t.Fatalf("healthy instances before any deployment: %v", got)
	}

	var d api.Deployment
	h.call("POST", "/v1/projects/web/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d)
	h.eventually("placement", func() bool { return len(running(n.desired())) == 3 })
	if got := h.value("zeitwork_instances", "state", api.InstancePending); got != 3 {
		t.Errorf("pending instances after placement: %v, want 3", got)
	}
	ins := running(n.desired())
	n.report(ins[0].ID, api.InstanceStarting, "booting")
	n.report(ins[1].ID, api.InstanceHealthy, "")
	if s, hl := h.value("zeitwork_instances", "state", api.InstanceStarting), h.value("zeitwork_instances", "state", api.InstanceHealthy); s != 1 || hl != 1 {
		t.Errorf("after reports: %v starting, %v healthy; want 1 and 1", s, hl)
	}
	if got := h.value("zeitwork_deployments", "status", api.StatusDeploying); got != 1 {
		t.Errorf("deploying deployments: %v", got)
	}

	// Three failures of a new deployment fail it, counted as kind "instance".
	for _, in := range ins {
		n.report(in.ID, api.InstanceFailed, "app exited with code 1")
	}
	h.eventually("failure", func() bool { return h.deployment(d.ID).Status == api.StatusFailed })
	if got := h.value("zeitwork_deployments_failed_total", "kind", "instance"); got != 1 {
		t.Errorf("deployments failed by instances: %v", got)
	}
	if got := h.value("zeitwork_deployments", "status", api.StatusFailed); got != 1 {
		t.Errorf("failed deployments: %v", got)
	}

	// Requests are counted by pattern, never by path.
	if got := h.value("zeitwork_operator_api_requests_total", "route", "POST /v1/nodes/{node}/instances/{instance}"); got < 5 {
		t.Errorf("instance reports counted: %v", got)
	}
	h.call("GET", "/v1/projects/none", h.token, nil, nil)
	if got := h.value("zeitwork_operator_api_requests_total", "route", "GET /v1/projects/{project}", "class", "4xx"); got != 1 {
		t.Errorf("404 counted %v times as 4xx under its pattern", got)
	}
	if got := h.value("zeitwork_operator_reconcile_duration_seconds"); got == 0 {
		t.Error("no reconcile pass observed")
	}
}
