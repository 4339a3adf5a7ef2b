package operator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	for range 20 {
		n.report(inst, api.InstanceStarting, "booting")
	}
	if after, _ := h.store.GetInstance(ctx, id); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("a report that changed nothing was written")
	}
	// Writes that change nothing anyone acts on mark no change, so that the
	// change feed neither moves nor notifies for them (migration 0023) ...
	if got := changeMark(t, h, "UPDATE instances SET updated_at = now(), reason = 'still booting', timings = '{\"x\": 1}' WHERE id = $1", id); got != "" {
		t.Fatalf("a write of reason and timings marked the transaction %q", got)
	}
	// ... and a change of state does.
	if got := changeMark(t, h, "UPDATE instances SET state = 'healthy' WHERE id = $1", id); got != "pending" {
		t.Fatalf("a change of state marked the transaction %q, want pending", got)
	}
	if got, _ := h.store.GetInstance(ctx, id); got.State != api.InstanceHealthy {
		t.Fatal("state not written")
	}
}

// changeMark runs sql with arg in a transaction and returns the mark the
// notify triggers left for the change feed's commit trigger ("" if none).
func changeMark(t *testing.T, h *harness, sql string, arg any) string {
	t.Helper()
	ctx := context.Background()
	var mark string
	err := pgx.BeginFunc(ctx, h.store.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql, arg); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT coalesce(current_setting('zeitwork.change', true), '')").Scan(&mark)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mark
}
