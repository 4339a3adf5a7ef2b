package operator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// runningOf counts d's instances the operator wants running.
func runningOf(t *testing.T, s *store.Store, d db.Deployment) int {
	t.Helper()
	ins, err := s.ListInstancesByDeployment(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range ins {
		if in.Desired == "running" {
			n++
		}
	}
	return n
}

// execSQL runs SQL that stands in for time passing or for a field only builds set.
func execSQL(t *testing.T, s *store.Store, sql string, args ...any) {
	t.Helper()
	if _, err := s.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// ageAll makes every deployment and instance an hour older, as if that
// long had passed without requests.
func ageAll(t *testing.T, s *store.Store) {
	t.Helper()
	execSQL(t, s, "UPDATE deployments SET ready_at = ready_at - interval '1 hour', woken_at = woken_at - interval '1 hour'")
	execSQL(t, s, "UPDATE instances SET healthy_at = healthy_at - interval '1 hour'")
}

// serve calls handler h with body as an edge would, and returns the status
// its error maps to (200 for none) and the response.
func serve(t *testing.T, h func(http.ResponseWriter, *http.Request) error, body any) (int, *httptest.ResponseRecorder) {
	t.Helper()
	b, _ := json.Marshal(body)
	w := httptest.NewRecorder()
	err := h(w, httptest.NewRequest("POST", "/", strings.NewReader(string(b))))
	var ae *apiError
	switch {
	case err == nil:
		return w.Code, w
	case errors.As(err, &ae):
		return ae.status, w
	default:
		t.Fatalf("handler: %v", err)
		return 0, nil
	}
}

// previewOf makes a ready preview deployment of p with one healthy instance.
func previewOf(t *testing.T, o *Operator, s *store.Store, p db.Project) db.Deployment {
	t.Helper()
	d, _ := healthyDeployment(t, s, p)
	execSQL(t, s, "UPDATE deployments SET preview = true WHERE id = $1", d.ID)
	if err := o.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ = reload(t, s, d)
	if d.Status != api.StatusReady {
		t.Fatalf("preview is %s, want ready", d.Status)
	}
	return d
}

// Projects scale previews to zero by default and production not; a
// deployment that scales to zero runs one instance per region when awake,
// whatever the project's minimum, which production keeps.
func TestScaleToZeroDefaults(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	p := newProject(t, s)
	if p.ScaleToZero != api.ScaleToZeroPreviews || p.IdleTimeoutSeconds != int32(api.DefaultIdleTimeout.Seconds()) {
		t.Fatalf("defaults: scale_to_zero %q, idle %d s", p.ScaleToZero, p.IdleTimeoutSeconds)
	}
	execSQL(t, s, "UPDATE projects SET min_instances_per_region = 3 WHERE id = $1", p.ID)
	prod, _ := healthyDeployment(t, s, p)
	preview, _ := healthyDeployment(t, s, p)
	execSQL(t, s, "UPDATE deployments SET preview = true WHERE id = $1", preview.ID)
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m := runningOf(t, s, prod), runningOf(t, s, preview); n != 3 || m != 1 {
		t.Fatalf("production runs %d instances (want its minimum, 3), preview %d (want 1)", n, m)
	}
	table, err := o.RouteTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range table.Routes {
		if want := r.Deployment == preview.Slug; r.ScaleToZero != want || (want && r.IdleTimeout != 300) {
			t.Errorf("route %s: scale_to_zero %v idle %d, want %v", r.Host, r.ScaleToZero, r.IdleTimeout, want)
		}
	}
	_, p = reload(t, s, prod)
	if j := o.projectJSON(p, ""); j.ScaleToZero != "previews" || j.IdleTimeoutSeconds != 300 {
		t.Errorf("project JSON: %+v", j)
	}
}

// The option's validation: bad input is refused and changes nothing.
func TestScaleToZeroParams(t *testing.T) {
	p := db.Project{ScaleToZero: "previews", IdleTimeoutSeconds: 300}
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	for _, c := range []struct {
		name string
		req  api.UpdateProjectRequest
		want db.UpdateProjectScaleToZeroParams
		bad  bool
	}{
		{name: "all", req: api.UpdateProjectRequest{ScaleToZero: str("all")}, want: db.UpdateProjectScaleToZeroParams{ScaleToZero: "all", IdleTimeoutSeconds: 300}},
		{name: "timeout", req: api.UpdateProjectRequest{IdleTimeoutSeconds: num(5)}, want: db.UpdateProjectScaleToZeroParams{ScaleToZero: "previews", IdleTimeoutSeconds: 5}},
		{name: "unknown mode", req: api.UpdateProjectRequest{ScaleToZero: str("yes")}, bad: true},
		{name: "timeout too short", req: api.UpdateProjectRequest{IdleTimeoutSeconds: num(1)}, bad: true},
		{name: "timeout too long", req: api.UpdateProjectRequest{IdleTimeoutSeconds: num(8 * 24 * 3600)}, bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, set, err := scaleToZeroParams(p, c.req)
			if c.bad {
				if err == nil || set {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil || !set || got != c.want {
				t.Fatalf("got %+v %v %v, want %+v", got, set, err, c.want)
			}
		})
	}
}

// reconcileTwice runs a pass and, after the drain period (the instances'
// retirement is made an hour older), another: the first retires the
// instances of a deployment that fell asleep, the second stops them.
func reconcileTwice(t *testing.T, o *Operator, s *store.Store) {
	t.Helper()
	for range 2 {
		if err := o.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		execSQL(t, s, "UPDATE instances SET retiring_at = retiring_at - interval '1 hour'")
	}
}

// A preview without requests for its idle timeout is put to sleep and its
// instances leave the route table, then stop; one with a recent request
// (reported by an edge) and a production deployment stay up.
func TestIdleDeploymentsScaleToZero(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	p := newProject(t, s)
	prod, _ := healthyDeployment(t, s, p)
	idle := previewOf(t, o, s, p)
	busy := previewOf(t, o, s, p)
	// An hour passes; an edge saw a request for busy a moment ago.
	ageAll(t, s)
	code, _ := serve(t, o.edgeActivity, api.EdgeActivity{Deployments: []api.DeploymentActivity{
		{Deployment: busy.Slug, LastRequest: time.Now()}, {Deployment: "nosuchdeployment", LastRequest: time.Now()}}})
	if code != http.StatusNoContent {
		t.Fatalf("activity report: %d", code)
	}
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	table, err := o.RouteTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range table.Routes {
		if r.Deployment == idle.Slug && (len(r.Backends) != 0 || !r.ScaleToZero) {
			t.Errorf("asleep route %+v: want no backends and scale_to_zero", r)
		}
	}
	reconcileTwice(t, o, s)
	idle, _ = reload(t, s, idle)
	busy, _ = reload(t, s, busy)
	if !idle.Asleep || busy.Asleep {
		t.Fatalf("asleep: idle %v (want true), busy %v (want false)", idle.Asleep, busy.Asleep)
	}
	if n := runningOf(t, s, idle); n != 0 {
		t.Errorf("idle preview still wants %d instances", n)
	}
	if runningOf(t, s, busy) != 1 || runningOf(t, s, prod) != 1 {
		t.Errorf("busy preview or production lost instances: %d, %d", runningOf(t, s, busy), runningOf(t, s, prod))
	}
	if idle.Status != api.StatusReady {
		t.Errorf("asleep preview is %s, want ready", idle.Status)
	}
	// Turning the option off brings the deployment back up.
	execSQL(t, s, "UPDATE projects SET scale_to_zero = 'off' WHERE id = $1", p.ID)
	reconcileTwice(t, o, s)
	if n := runningOf(t, s, idle); n != 1 {
		t.Errorf("with scale to zero off the preview runs %d instances, want 1", n)
	}
}

// Concurrent wakes, through two operators on one database, wake a
// sleeping deployment once: one call reports it woke it, and one set of
// instances is placed.
func TestWakeIsIdempotent(t *testing.T) {
	ctx := context.Background()
	o, s := newTestOperator(t)
	o2, err := New(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, s)
	d := previewOf(t, o, s, p)
	ageAll(t, s)
	reconcileTwice(t, o, s)
	if d, _ = reload(t, s, d); !d.Asleep || runningOf(t, s, d) != 0 {
		t.Fatalf("not asleep: %v, %d instances", d.Asleep, runningOf(t, s, d))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	woke := 0
	for i := range 20 {
		wg.Go(func() {
			h := o.edgeWake
			if i%2 == 1 {
				h = o2.edgeWake
			}
			code, w := serve(t, h, api.WakeRequest{Deployment: d.Slug})
			var resp api.WakeResponse
			json.Unmarshal(w.Body.Bytes(), &resp)
			if code != http.StatusOK || resp.Deployment != d.Slug {
				t.Errorf("wake: %d %s", code, w.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			if resp.Woke {
				woke++
			}
		})
	}
	wg.Wait()
	if woke != 1 {
		t.Fatalf("%d wakes reported waking the deployment, want 1", woke)
	}
	for range 2 {
		if err := o.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if err := o2.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ = reload(t, s, d); d.Asleep || runningOf(t, s, d) != 1 {
		t.Fatalf("after the wake: asleep %v, %d instances wanted (want 1)", d.Asleep, runningOf(t, s, d))
	}
	// Woken just now, it does not fall asleep again at once; nor, however
	// long ago it was woken, while its instance is still booting.
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ = reload(t, s, d); d.Asleep {
		t.Fatal("fell asleep right after the wake")
	}
	ageAll(t, s)
	if err := o.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ = reload(t, s, d); d.Asleep {
		t.Fatal("fell asleep while its instance was booting")
	}
	if code, _ := serve(t, o.edgeWake, api.WakeRequest{Deployment: "nosuchdeployment"}); code != http.StatusNotFound {
		t.Errorf("wake of an unknown deployment: %d, want 404", code)
	}
	if _, err := o.stopDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if code, _ := serve(t, o.edgeWake, api.WakeRequest{Deployment: d.Slug}); code != http.StatusConflict {
		t.Errorf("wake of a stopped deployment: %d, want 409", code)
	}
}
