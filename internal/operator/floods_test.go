package operator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
)

// placed deploys a one-instance project and returns its node, deployment
// and instance once the node sees it.
func placed(t *testing.T, tweak func(*operator.Config)) (*harness, *fakeNode, api.Deployment, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv := operatortest.Start(t, func(c *operator.Config) { c.Metrics = reg; tweak(c) })
	h := &harness{t: t, url: srv.URL, store: srv.Store, token: srv.Token, metrics: reg, srv: srv}
	if code := h.call("POST", "/v1/projects", h.token, api.CreateProjectRequest{Name: "loud", MinInstancesPerRegion: 1}, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	n := h.register("eu", "10.0.0.1:7443")
	ref := h.pushImage("loud", image.ImageConfig{Entrypoint: []string{"/app"}})
	var d api.Deployment
	if code := h.call("POST", "/v1/projects/loud/deployments", h.token, api.CreateDeploymentRequest{Image: ref}, &d); code != 201 {
		t.Fatalf("create deployment: %d", code)
	}
	h.eventually("placement", func() bool { return len(running(n.desired())) >= 1 })
	return h, n, d, running(n.desired())[0].ID
}

func TestLogIngestIsRateLimitedPerProject(t *testing.T) {
	h, n, d, inst := placed(t, func(c *operator.Config) { c.LogBurst = 20; c.LogLinesPerSecond = 0.001 })
	var batch api.LogBatch
	for i := range 100 {
		batch.Lines = append(batch.Lines, api.LogLine{Instance: inst, Stream: "stdout", Time: time.Now(), Text: "line"})
		if i == 0 {
			batch.Lines[0].Text = strings.Repeat("x", 100<<10)
		}
	}
	if code := h.call("POST", "/v1/nodes/"+n.id+"/logs", n.token, batch, nil); code != 204 {
		t.Fatalf("ship logs: %d", code)
	}
	var lines []api.LogLine
	h.call("GET", "/v1/deployments/"+d.ID+"/logs?tail=1000", h.token, nil, &lines)
	if len(lines) != 21 {
		t.Fatalf("%d lines stored, want 20 and a notice", len(lines))
	}
	if got := lines[20].Text; got != "zeitwork: dropped 80 lines (project log rate limit)" {
		t.Errorf("notice = %q", got)
	}
	if l := len(lines[0].Text); l > 17<<10 {
		t.Errorf("a %d byte line was stored", l)
	}
	if got := gather(t, h, "zeitwork_operator_log_lines_dropped_total"); got != 80 {
		t.Errorf("dropped counter = %v, want 80", got)
	}
}

func gather(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A report that repeats the instance's state writes nothing; one that
// changes only its reason writes but notifies nobody.
func TestRepeatedReportsWakeNobody(t *testing.T) {
	h, n, _, inst := placed(t, func(*operator.Config) {})
	ctx := context.Background()
	if code := n.report(inst, api.InstanceStarting, "booting"); code != 204 {
		t.Fatalf("report: %d", code)
	}
	id := uuid.MustParse(inst)
	before, err := h.store.GetInstance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := h.store.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN zeitwork_changes"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		n.report(inst, api.InstanceStarting, "booting")
	}
	if after, _ := h.store.GetInstance(ctx, id); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("a report that changed nothing was written")
	}
	// Writes that change nothing anyone acts on notify nobody ...
	if _, err := h.store.Pool.Exec(ctx, "UPDATE instances SET updated_at = now(), reason = 'still booting', timings = '{\"x\": 1}' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	// ... and a change of state does, after them in commit order.
	if _, err := h.store.Pool.Exec(ctx, "UPDATE instances SET state = 'healthy' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	first, err := conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	// The reconciler may write too; only an instances notification before
	// the state change would be ours.
	for first.Payload != "instances" {
		if first, err = conn.Conn().WaitForNotification(wctx); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := h.store.GetInstance(ctx, id)
	if got.State != api.InstanceHealthy {
		t.Fatal("state not written")
	}
	// Nothing is pending: a notification of the earlier writes would have
	// come before the state change's.
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if second, err := conn.Conn().WaitForNotification(sctx); err == nil && second.Payload == "instances" {
		t.Fatalf("two instance notifications for one state change")
	}
}
