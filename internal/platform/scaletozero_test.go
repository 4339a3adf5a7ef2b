package platform

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// testScaleToZero runs on a ready preview deployment of project: with a
// short idle timeout it scales to zero (its VMs stop), then concurrent
// first requests through the edge wake it once (one new instance) and all
// succeed.
func testScaleToZero(t *testing.T, e *env, project, preview string) {
	if code := e.apiBody("PATCH", "/v1/projects/"+project, `{"idle_timeout_seconds": 3}`, e.p.Token, nil); code != 200 {
		t.Fatalf("set the idle timeout: %d", code)
	}
	var d api.Deployment
	e.eventually("the idle preview to scale to zero", 2*time.Minute, func() (bool, string) {
		d = e.getDeployment(preview)
		for _, in := range d.Instances {
			if in.Desired == "running" || in.State != "stopped" {
				return false, describe(d)
			}
		}
		return d.Asleep && d.Status == api.StatusReady, describe(d)
	})
	before := map[string]bool{}
	for _, in := range d.Instances {
		before[in.ID] = true
	}

	const n = 6
	host := e.host(api.VersionedLabel(project, preview))
	client := &http.Client{Timeout: 2 * time.Minute}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first time.Duration
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", e.p.EdgeURL+"/", nil)
			req.Host = host
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("request to the sleeping preview: %v", err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			mu.Lock()
			defer mu.Unlock()
			if first == 0 {
				first = time.Since(start)
			}
			if resp.StatusCode != 200 || !strings.Contains(string(body), "hello preview") {
				t.Errorf("request to the sleeping preview: %d %q", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	t.Logf("wake from zero to first response: %s (all %d requests answered after %s)", first, n, time.Since(start))

	d = e.getDeployment(preview)
	var started []string
	for _, in := range d.Instances {
		if !before[in.ID] {
			started = append(started, in.ID)
		}
	}
	if len(started) != 1 {
		t.Fatalf("%d concurrent first requests started %d instances, want 1: %s", n, len(started), describe(d))
	}
}
