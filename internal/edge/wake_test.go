package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// fakeWaker stands in for the operator: it counts wake calls, fails them
// with err, and records activity reports.
type fakeWaker struct {
	calls   atomic.Int64
	err     error
	mu      sync.Mutex
	reports []api.DeploymentActivity
}

func (f *fakeWaker) Wake(ctx context.Context, deployment string) error {
	f.calls.Add(1)
	return f.err
}

func (f *fakeWaker) ReportActivity(ctx context.Context, a []api.DeploymentActivity) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, a...)
	return nil
}

func (f *fakeWaker) reported() []api.DeploymentActivity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.DeploymentActivity(nil), f.reports...)
}

const sleepyHost = "ab12cd--hello.localhost"

// sleeping is the route of a deployment scaled to zero (no backends).
func sleeping(backends ...api.Backend) api.Route {
	r := apiRoute(sleepyHost, "ab12cd", "ready", backends...)
	r.ScaleToZero, r.IdleTimeout = true, 4
	return r
}

// heldGet sends a GET for the sleeping host in the background.
func (te *testEdge) heldGet(ctx context.Context, accept string) <-chan *http.Response {
	out := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+te.addr+"/", nil)
		req.Host = sleepyHost
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := te.client.Do(req)
		if err != nil {
			out <- nil
			return
		}
		resp.Body.Close()
		out <- resp
	}()
	return out
}

// Concurrent first requests for a sleeping deployment are held, make one
// wake call, and are all forwarded once the table gives it an instance.
func TestWakeHoldsAndForwardsWithOneCall(t *testing.T) {
	w := &fakeWaker{}
	te := startEdgeConfig(t, Config{Wake: w}, sleeping())
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i1": a.addr})
	const n = 20
	var got []<-chan *http.Response
	for range n {
		got = append(got, te.heldGet(context.Background(), ""))
	}
	waitFor(t, func() bool { return te.Stats().Held == n })
	te.src.Set(routeTable(2, sleeping(api.Backend{Instance: "i1", NodeAddr: node})))
	for _, c := range got {
		if resp := <-c; resp == nil || resp.StatusCode != 200 || resp.Header.Get("X-App") != "a" {
			t.Fatalf("held request: %+v", resp)
		}
	}
	if c := w.calls.Load(); c != 1 {
		t.Fatalf("%d wake calls for %d concurrent requests, want 1", c, n)
	}
	if s := te.Stats(); s.Wakes != 1 || s.Held != 0 {
		t.Fatalf("stats: %d wakes, %d held", s.Wakes, s.Held)
	}
}

// A deployment that does not wake within the timeout, or whose wake the
// operator refuses, gets a 503 with Retry-After and a reason in the form
// the client asked for.
func TestWakeTimeoutAndFailure(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		te := startEdgeConfig(t, Config{Wake: &fakeWaker{}, WakeTimeout: 200 * time.Millisecond}, sleeping())
		resp := <-te.heldGet(context.Background(), "application/json")
		if resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("got %+v", resp)
		}
		if s := te.Stats(); s.WakeTimeouts != 1 {
			t.Fatalf("wake timeouts %d, want 1", s.WakeTimeouts)
		}
	})
	t.Run("refused", func(t *testing.T) {
		te := startEdgeConfig(t, Config{Wake: &fakeWaker{err: errors.New("deployment ab12cd is stopped")}}, sleeping())
		req, _ := http.NewRequest("GET", "http://"+te.addr+"/", nil)
		req.Host = sleepyHost
		req.Header.Set("Accept", "application/json")
		resp, err := te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 503 || body["deployment"] != "ab12cd" || body["error"] == "" {
			t.Fatalf("got %d %v", resp.StatusCode, body)
		}
		if s := te.Stats(); s.WakeFailures != 1 {
			t.Fatalf("wake failures %d, want 1", s.WakeFailures)
		}
	})
	t.Run("without a waker", func(t *testing.T) {
		te := startEdge(t, sleeping())
		if resp, _ := te.get(t, sleepyHost, "/"); resp.StatusCode != 503 || te.Stats().Held != 0 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
}

// Held requests are capped per deployment; a client that leaves frees
// its slot for the next.
func TestWakeHeldCap(t *testing.T) {
	te := startEdgeConfig(t, Config{Wake: &fakeWaker{}, MaxHeldPerDeployment: 2}, sleeping())
	leave, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := te.heldGet(leave, "")
	second := te.heldGet(context.Background(), "")
	waitFor(t, func() bool { return te.Stats().Held == 2 })
	if resp := <-te.heldGet(context.Background(), ""); resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request past the cap: %+v", resp)
	}
	cancel()
	<-first
	waitFor(t, func() bool { return te.Stats().Held == 1 })
	third := te.heldGet(context.Background(), "")
	waitFor(t, func() bool { return te.Stats().Held == 2 })
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i1": a.addr})
	te.src.Set(routeTable(2, sleeping(api.Backend{Instance: "i1", NodeAddr: node})))
	for _, c := range []<-chan *http.Response{second, third} {
		if resp := <-c; resp == nil || resp.StatusCode != 200 {
			t.Fatalf("held request: %+v", resp)
		}
	}
	if s := te.Stats(); s.WakeOverflow != 1 {
		t.Fatalf("overflow %d, want 1", s.WakeOverflow)
	}
}

// Requests to a deployment that scales to zero are reported to the
// operator with their time; others are not.
func TestActivityIsReported(t *testing.T) {
	w := &fakeWaker{}
	a := startApp(t, "a")
	node := startNode(t, map[string]string{"i1": a.addr})
	b := api.Backend{Instance: "i1", NodeAddr: node}
	te := startEdgeConfig(t, Config{Wake: w, ActivityEvery: 20 * time.Millisecond},
		sleeping(b), apiRoute("always--hello.localhost", "always", "ready", b))
	before := time.Now()
	te.get(t, "always--hello.localhost", "/")
	if resp, _ := te.get(t, sleepyHost, "/"); resp.StatusCode != 200 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return len(w.reported()) > 0 })
	r := w.reported()
	if len(r) != 1 || r[0].Deployment != "ab12cd" || r[0].LastRequest.Before(before.Add(-time.Millisecond)) {
		t.Fatalf("reports %+v", r)
	}
	if w.calls.Load() != 0 {
		t.Fatal("a deployment with instances was woken")
	}
}

// An edge without a Waker cannot wake a sleeping deployment: it says so
// (and why), in a 503 without Retry-After, instead of promising an
// instance that never comes.
func TestAsleepWithoutWakerSaysSo(t *testing.T) {
	te := startEdge(t, sleeping())
	resp, body := te.get(t, sleepyHost, "/")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{"deployment ab12cd is asleep", "this edge cannot wake it", "no operator credentials"} {
		if !strings.Contains(body, want) {
			t.Errorf("body %q lacks %q", body, want)
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q: retrying this edge does not help", ra)
	}
}
