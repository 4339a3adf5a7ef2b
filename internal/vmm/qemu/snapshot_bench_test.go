package qemu

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// startModes are the ways BenchmarkVMStart starts a VM: a cold boot, a
// restore that loads the template's migration stream into the VM's own
// memory, and a restore that maps the template's sealed memory
// copy-on-write.
var startModes = []string{"cold", "stream", "shared"}

// BenchmarkVMStart measures QEMU start to the app's first HTTP response
// for each of startModes in alternating rounds (so that all see the same
// machine load) and reports the mean of each; then it starts three VMs of
// each mode side by side, lets them idle and reports their mean resident,
// proportional (PSS) and unique (USS) memory:
//
//	go test -run '^$' -bench VMStart -benchtime 3x ./internal/vmm/qemu/
func BenchmarkVMStart(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	d, err := New(Config{StateDir: b.TempDir(), CgroupParent: testCgroupParent})
	if err != nil {
		b.Fatal(err)
	}
	ns := snapNetNS(b, 3)
	tmpls := map[string]string{}
	for _, shared := range []bool{false, true} {
		mode := map[bool]string{false: "stream", true: "shared"}[shared]
		tmpls[mode] = filepath.Join(b.TempDir(), mode)
		d.sharedMemory = shared
		if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), tmpls[mode]); err != nil {
			b.Fatal(err)
		}
	}
	took := map[string]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		for _, mode := range startModes {
			inst, t, err := startAnswering(ctx, b, d, ns, tmpls[mode], fmt.Sprintf("bench%d-%s", i, mode), mode, 0)
			if err != nil {
				b.Fatal(err)
			}
			d.Destroy(context.Background(), inst.ID)
			took[mode] += t
		}
	}
	b.StopTimer()
	for _, mode := range startModes {
		b.ReportMetric(float64(took[mode].Milliseconds())/float64(b.N), "ms/"+mode)
	}
	for _, mode := range startModes {
		rss, pss, uss := idleMemory(ctx, b, d, ns, tmpls[mode], mode)
		b.ReportMetric(rss, "MiB-rss/"+mode)
		b.ReportMetric(pss, "MiB-pss/"+mode)
		b.ReportMetric(uss, "MiB-uss/"+mode)
	}
}

// idleMemory starts three VMs of mode, lets them idle and returns their
// mean RSS, PSS and USS in MiB.
func idleMemory(ctx context.Context, b *testing.B, d *Driver, ns, tmpl, mode string) (rss, pss, uss float64) {
	var insts []*vmm.Instance
	defer func() {
		for _, inst := range insts {
			d.Destroy(context.Background(), inst.ID)
		}
	}()
	for i := range 3 {
		inst, _, err := startAnswering(ctx, b, d, ns, tmpl, fmt.Sprintf("idle%d-%s", i, mode), mode, i)
		if err != nil {
			b.Fatal(err)
		}
		insts = append(insts, inst)
	}
	time.Sleep(2 * time.Second) // idle: a measurement, not a wait for readiness
	for _, inst := range insts {
		m := rollup(inst.PID)
		rss += float64(m["Rss"]) / 1024 / 3
		pss += float64(m["Pss"]) / 1024 / 3
		uss += float64(m["Private_Clean"]+m["Private_Dirty"]) / 1024 / 3
	}
	return rss, pss, uss
}

// rollup reads the kB figures of /proc/<pid>/smaps_rollup.
func rollup(pid int) map[string]int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	out := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
			out[k], _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return out
}

// startAnswering starts VM id (booted, or restored from tmpl), on tap i of
// the namespace, configures it and returns it with the time from the
// start to its first HTTP response.
func startAnswering(ctx context.Context, tb testing.TB, d *Driver, ns, tmpl, id, mode string, i int) (*vmm.Instance, time.Duration, error) {
	spec := baseSpec(id, makeRootDisk(tb))
	spec.Network = vmm.NetworkSpec{TapName: fmt.Sprintf("zwsnap%d", i), MAC: snapMAC(i), NetNS: ns}
	// The template key includes the memory layout: restore as built.
	d.sharedMemory = mode == "shared"
	start := time.Now()
	var inst *vmm.Instance
	var err error
	if mode == "cold" {
		inst, err = d.Start(ctx, spec)
	} else {
		inst, err = d.Restore(ctx, spec, tmpl)
	}
	if err != nil {
		return nil, 0, err
	}
	c, err := channel.Dial(ctx, inst.ControlSocket)
	if err != nil {
		d.Destroy(context.Background(), inst.ID)
		return nil, 0, err
	}
	defer c.Close()
	addr := fmt.Sprintf("10.251.%d.2", i)
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: addr + "/24", Gateway: fmt.Sprintf("10.251.%d.1", i), MAC: snapMAC(i)}
	if err := c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		d.Destroy(context.Background(), inst.ID)
		return nil, 0, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(ns)}, Timeout: time.Second}
	for ctx.Err() == nil {
		if resp, err := client.Get("http://" + addr + ":8080/"); err == nil {
			resp.Body.Close()
			return inst, time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.Destroy(context.Background(), inst.ID)
	return nil, 0, ctx.Err()
}
