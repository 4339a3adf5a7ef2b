package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/vmm/qemu"
)

// TestMetricsCountFailuresAndRestarts runs a real supervisor, with a real
// image store and VM driver, on an instance whose image cannot be pulled
// (its registry refuses connections): it fails, is reported failed, and
// is restarted. The operator is a recorder of reports.
func TestMetricsCountFailuresAndRestarts(t *testing.T) {
	var mu sync.Mutex
	var reports []api.InstanceReport
	op := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep api.InstanceReport
		json.NewDecoder(r.Body).Decode(&rep)
		mu.Lock()
		reports = append(reports, rep)
		mu.Unlock()
		w.Write([]byte("{}"))
	}))
	t.Cleanup(op.Close)

	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	drv, err := qemu.New(qemu.Config{StateDir: filepath.Join(dir, "vms"), Log: log, Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	images, err := image.NewStore(filepath.Join(dir, "images"), log, image.WithResolveOptions(image.WithRemoteOnly()))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := newMetrics()
	a := &Agent{
		cfg: Config{StateDir: dir, Driver: drv, Images: images}, log: log,
		client:  &client{base: op.URL, http: op.Client()},
		records: records{dir: t.TempDir()}, metrics: m, sups: map[string]*supervisor{},
	}
	unregister, err := a.registerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := a.newSupervisor(ctx, record{Desired: api.DesiredInstance{
		ID: "0123456789ab", Deployment: "d", Project: "p", Port: 8080,
		Image: "127.0.0.1:1/p@sha256:" + "00000000000000000000000000000000000000000000000000000000000000aa",
	}}, nil)
	s.env.deliver(nil)
	a.sups[s.rec.Desired.ID] = s
	go s.run()
	t.Cleanup(func() { cancel(); <-s.done })

	failed := func() bool {
		return testutil.ToFloat64(m.failures) >= 1 && instancesIn(t, reg, api.InstanceFailed) == 1
	}
	waitUntil(t, 30*time.Second, "a failure", failed)
	if n := instancesIn(t, reg, api.InstanceHealthy); n != 0 {
		t.Fatalf("%v healthy instances", n)
	}
	// The first retry comes after a backoff of 1 s.
	waitUntil(t, 30*time.Second, "a restart", func() bool { return testutil.ToFloat64(m.restarts) >= 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 || reports[0].State != api.InstanceStarting {
		t.Fatalf("reports: %+v", reports)
	}

	// The agent's metrics go with it: another agent (a restart in the same
	// process) registers its own, which a leftover would refuse.
	b := &Agent{metrics: newMetrics(), sups: map[string]*supervisor{}}
	if _, err := b.registerMetrics(reg); err == nil {
		t.Fatal("two agents registered the same metrics without a distinguishing label")
	}
	unregister()
	if _, err := b.registerMetrics(reg); err != nil {
		t.Fatalf("after unregister: %v", err)
	}
}

// instancesIn reads zeitwork_node_instances{state=state}.
func instancesIn(t *testing.T, reg *prometheus.Registry, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "zeitwork_node_instances" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == state {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no zeitwork_node_instances{state=%q}", state)
	return 0
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		<-tick.C
	}
}
