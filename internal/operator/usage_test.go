package operator_test

import (
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/operator"
)

// A node's usage report is stored without changing the instance's state,
// shown with the instance in the deployment's JSON, and no longer shown
// once the instance is not up.
func TestInstanceUsageReportedAndShown(t *testing.T) {
	h, n, d, inst := placed(t, func(*operator.Config) {})
	if code := n.report(inst, api.InstanceHealthy, ""); code != 204 {
		t.Fatalf("healthy report: %d", code)
	}
	cpu := 0.42
	at := time.Now().UTC().Truncate(time.Second)
	usage := &api.InstanceUsage{RSSBytes: 150 << 20, PSSBytes: 120 << 20, USSBytes: 110 << 20, SharedBytes: 40 << 20,
		CPUPercent: &cpu, SampledAt: at}
	if code := h.call("POST", "/v1/nodes/"+n.id+"/instances/"+inst, n.token,
		api.InstanceReport{Usage: usage}, nil); code != 204 {
		t.Fatalf("usage report: %d", code)
	}
	show := func() api.Instance {
		var got api.Deployment
		if code := h.call("GET", "/v1/deployments/"+d.ID, h.token, nil, &got); code != 200 || len(got.Instances) != 1 {
			t.Fatalf("get deployment: %d %+v", code, got)
		}
		return got.Instances[0]
	}
	in := show()
	if in.State != api.InstanceHealthy || in.Usage == nil {
		t.Fatalf("instance %+v", in)
	}
	u := in.Usage
	if u.RSSBytes != usage.RSSBytes || u.PSSBytes != usage.PSSBytes || u.USSBytes != usage.USSBytes ||
		u.SharedBytes != usage.SharedBytes || u.CPUPercent == nil || *u.CPUPercent != cpu || !u.SampledAt.Equal(at) {
		t.Fatalf("usage shown %+v, reported %+v", u, usage)
	}
	if code := n.report(inst, api.InstanceFailed, "app exited"); code != 204 {
		t.Fatalf("failed report: %d", code)
	}
	if in := show(); in.Usage != nil {
		t.Fatalf("a failed instance shows its last usage: %+v", in.Usage)
	}
	// A usage report that arrives after the failure does not make the
	// instance healthy again, and a report with neither is refused.
	if code := h.call("POST", "/v1/nodes/"+n.id+"/instances/"+inst, n.token, api.InstanceReport{Usage: usage}, nil); code != 204 {
		t.Fatalf("late usage report: %d", code)
	}
	if in := show(); in.State != api.InstanceFailed || in.Reason != "app exited" {
		t.Fatalf("a usage report changed the instance: %s %q", in.State, in.Reason)
	}
	if code := h.call("POST", "/v1/nodes/"+n.id+"/instances/"+inst, n.token, api.InstanceReport{}, nil); code != 400 {
		t.Fatalf("a report without state or usage: %d, want 400", code)
	}
}
