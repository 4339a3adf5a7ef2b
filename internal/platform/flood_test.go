package platform

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/node"
)

// TestLogFlood deploys an app that writes log lines as fast as it can for
// a few seconds next to another project's app. The node's log files stay
// under their cap, the database gets no more lines than the rate limit
// lets through (and a line saying how many were dropped), and the other
// app keeps answering.
func TestLogFlood(t *testing.T) {
	limits := node.LogLimits{FileBytes: 256 << 10, LinesPerSecond: 100, Burst: 200}
	e := startEnv(t, func(c *Config) { c.LogLimits = limits })
	ctx := context.Background()
	for _, name := range []string{"calm", "loud"} {
		if err := cli.CreateProject(ctx, e.login, api.CreateProjectRequest{Name: name, MinInstancesPerRegion: 1}); err != nil {
			t.Fatal(err)
		}
	}
	calm, err := e.deploy("calm", e.sampleLayout("calm", examples.SampleConfig))
	if err != nil {
		t.Fatalf("deploy calm: %v", err)
	}
	cfg := examples.SampleConfig
	cfg.Cmd = []string{"-flood", "5s"}
	start := time.Now()
	loud, err := e.deploy("loud", e.sampleLayout("loud", cfg))
	if err != nil {
		t.Fatalf("deploy loud: %v", err)
	}

	// While it floods: the files stay small and the other app answers.
	var mu sync.Mutex
	largest := map[string]int64{}
	var calmErrs []string
	logs := func() []api.LogLine {
		var lines []api.LogLine
		e.api("GET", "/v1/deployments/"+loud.ID+"/logs?tail=10000", &lines)
		return lines
	}
	e.eventually("the flood to end", 90*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".log") && strings.Contains(path, "/vms/") {
				if fi, err := d.Info(); err == nil && fi.Size() > largest[d.Name()] {
					largest[d.Name()] = fi.Size()
				}
			}
			return nil
		})
		if status, _, err := e.get(e.host("calm"), "/"); status != 200 {
			calmErrs = append(calmErrs, describeGet(status, err))
		}
		lines := logs()
		for _, l := range lines {
			if l.Text == "hello: flood over" {
				return true, ""
			}
		}
		var last []string
		for _, l := range lines[max(0, len(lines)-3):] {
			last = append(last, l.Text[:min(len(l.Text), 60)])
		}
		return false, fmt.Sprintf("no \"flood over\" line yet; %d lines, last %q; files %v", len(lines), last, largest)
	})
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	t.Logf("largest log files: %v", largest)
	if largest["app.log"] == 0 || largest["app.log.1"] == 0 {
		t.Errorf("the flood never rotated app.log: %v", largest)
	}
	// One polling interval of writes may land past the cap before it is
	// rotated; the guest's virtio port cannot write 1 MiB in that time.
	for name, size := range largest {
		if size > limits.FileBytes+1<<20 {
			t.Errorf("%s reached %d bytes, cap %d", name, size, limits.FileBytes)
		}
	}
	lines := logs()
	dropped := false
	for _, l := range lines {
		if strings.HasPrefix(l.Text, "zeitwork: dropped ") {
			dropped = true
		}
	}
	if !dropped {
		t.Error("no line says that lines were dropped")
	}
	// The burst, the rate for as long as the test ran, and up to four
	// notices a second.
	if max := limits.Burst + int(elapsed.Seconds()*(limits.LinesPerSecond+4)); len(lines) > max {
		t.Errorf("%d lines stored in %s, more than %d", len(lines), elapsed, max)
	}
	t.Logf("%d lines stored in %s", len(lines), elapsed)
	if len(calmErrs) > 0 {
		t.Errorf("the other project failed during the flood: %v", calmErrs)
	}
	for _, in := range e.getDeployment(calm.ID).Instances {
		if in.State != api.InstanceHealthy {
			t.Errorf("other project's instance %s is %s", in.ID, in.State)
		}
	}
}

func describeGet(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %d", status)
}
