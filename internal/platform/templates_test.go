package platform

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
)

// TestVMTemplates runs one node with VM templates: its instances restore
// the template it built at start, a damaged template makes the next
// instance boot (and says so in the instance's reason) and is built again,
// a restarted agent reuses its templates, and a changed guest init gets a
// new one. One instance per deployment keeps the machine's load small; the
// driver's own test restores three VMs from one template.
func TestVMTemplates(t *testing.T) {
	// The start timeout of the other tests would be too short here: this
	// test builds a template beside a booting instance on purpose.
	e := startEnv(t, func(c *Config) { c.Templates = true; c.StartTimeout = time.Minute })
	dir := filepath.Join(e.p.Nodes[0].StateDir(), "node", "templates")
	key := e.waitTemplates(dir, 1)[0]
	if err := cli.CreateProject(context.Background(), e.login, api.CreateProjectRequest{Name: "tmpl", MinInstancesPerRegion: 1}); err != nil {
		t.Fatal(err)
	}
	layout := e.sampleLayout("tmpl", examples.SampleConfig)

	t.Run("an instance restores the template and answers through the edge", func(t *testing.T) {
		in := e.deployOne(t, "tmpl", layout)
		if _, ok := in.BootTimings["template_restore"]; !ok || in.Reason != "" {
			t.Errorf("instance was not restored: timings %v, reason %q", in.BootTimings, in.Reason)
		}
	})

	t.Run("a damaged template falls back to a cold boot and is rebuilt", func(t *testing.T) {
		state := filepath.Join(dir, key, "state")
		f, err := os.OpenFile(state, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), 0) // same size: only QEMU can tell
		f.Close()
		in := e.deployOne(t, "tmpl", layout)
		if !strings.Contains(in.Reason, "cold boot: template restore failed") {
			t.Errorf("instance reason %q does not say it booted after a failed restore", in.Reason)
		}
		if _, ok := in.BootTimings["template_restore"]; ok {
			t.Errorf("instance claims a restore: %v", in.BootTimings)
		}
		e.eventually("the template rebuilt", 6*time.Minute, func() (bool, string) {
			b := make([]byte, 4)
			f, err := os.Open(state)
			if err != nil {
				return false, err.Error()
			}
			defer f.Close()
			f.ReadAt(b, 0)
			_, err = os.Stat(filepath.Join(dir, key, "template.json"))
			return string(b) == "QEVM" && err == nil, string(b)
		})
	})

	t.Run("a restarted node reuses its templates and a changed init rebuilds them", func(t *testing.T) {
		e.waitTemplates(dir, 1) // rebuilt after the damage
		meta := filepath.Join(dir, key, "template.json")
		before := inode(t, meta)
		e.p.StopAgent()
		if err := e.p.StartAgent(); err != nil {
			t.Fatal(err)
		}
		in := e.deployOne(t, "tmpl", layout)
		if _, ok := in.BootTimings["template_restore"]; !ok {
			t.Errorf("instance after a restart was not restored: %v %q", in.BootTimings, in.Reason)
		}
		if after := inode(t, meta); after != before {
			t.Error("the restarted node rebuilt a template it had")
		}

		// Another init build: the same initramfs with padding the kernel
		// skips, which is a different file to the template key.
		e.p.StopAgent()
		n := e.p.Nodes[0]
		b, err := os.ReadFile(n.deps.Kernel.Initrd)
		if err != nil {
			t.Fatal(err)
		}
		changed := filepath.Join(n.StateDir(), "initrd-changed")
		if err := os.WriteFile(changed, append(b, make([]byte, 512)...), 0o644); err != nil {
			t.Fatal(err)
		}
		n.deps.Kernel.Initrd = changed
		if err := e.p.StartAgent(); err != nil {
			t.Fatal(err)
		}
		keys := e.waitTemplates(dir, 2)
		if keys[0] != key && keys[1] != key {
			t.Errorf("templates %v lost the old one %s", keys, key)
		}
	})
}

// deployOne deploys ref to project, checks that its one instance answers
// through the edge (which learns of it a moment after the CLI), and
// returns the instance.
func (e *env) deployOne(t *testing.T, project, ref string) api.Instance {
	t.Helper()
	d, err := e.deploy(project, ref)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	d = e.getDeployment(d.ID)
	if d.Status != api.StatusReady || len(healthyIDs(d)) != 1 {
		t.Fatalf("deployment not ready with 1 healthy instance: %s", describe(d))
	}
	host := e.host(api.VersionedLabel(project, d.ID))
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, err := e.get(host, "/")
		if err == nil && status == 200 && strings.Contains(body, "Hello from Zeitwork") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %v %.200s", host, status, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, in := range d.Instances {
		if in.State == api.InstanceHealthy {
			t.Logf("instance %s: reason %q, boot timings %v", in.ID[:8], in.Reason, in.BootTimings)
			return in
		}
	}
	return api.Instance{}
}

// waitTemplates waits until dir holds n complete templates and returns
// their keys.
func (e *env) waitTemplates(dir string, n int) []string {
	e.t.Helper()
	var keys []string
	// Up to the driver's own deadline for a build: on a busy machine a
	// template VM's boot can take minutes.
	e.eventually("vm templates", 6*time.Minute, func() (bool, string) {
		keys = nil
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if _, err := os.Stat(filepath.Join(dir, en.Name(), "template.json")); err == nil {
				keys = append(keys, en.Name())
			}
		}
		return len(keys) == n, strings.Join(keys, ",")
	})
	return keys
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
