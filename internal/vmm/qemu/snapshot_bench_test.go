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
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
)

// startModes are the ways BenchmarkVMStart starts a VM: a cold boot, a
// restore that loads the template's migration stream into the VM's own
// memory, and a restore that maps the template's sealed memory
// copy-on-write. VMSTART_MODES (comma-separated) picks some of them; a mode
// ending in "-before" runs the guest init named by VMSTART_BEFORE_INIT (an
// earlier build, for A/B runs of init changes in alternating rounds), and
// "mode+ARGS" adds kernel arguments (":" for a space; e.g.
// "shared+init_on_alloc=0") for A/B runs of kernel settings.
// VMSTART_VERBOSE prints each round on stderr too.
var startModes = []string{"cold", "stream", "shared"}

// benchModes returns startModes or VMSTART_MODES.
func benchModes() []string {
	if v := os.Getenv("VMSTART_MODES"); v != "" {
		return strings.Split(v, ",")
	}
	return startModes
}

// beforeKernel prepares the kernel with VMSTART_BEFORE_INIT's init, for
// the "-before" modes.
func beforeKernel(ctx context.Context, b *testing.B) {
	init := os.Getenv("VMSTART_BEFORE_INIT")
	if init == "" {
		b.Fatal("a -before mode needs VMSTART_BEFORE_INIT (a zeitwork-init binary)")
	}
	k, err := guestkernel.Prepare(ctx, guestkernel.DefaultCacheDir, init)
	if err != nil {
		b.Fatal(err)
	}
	beforeInitrd = k.Initrd
}

var beforeInitrd string

// modeSpec is baseSpec with the init of mode ("-before" or current).
func modeSpec(id, disk, mode string) vmm.Spec {
	s := baseSpec(id, disk)
	if _, args, ok := strings.Cut(mode, "+"); ok {
		s.KernelArgs = strings.ReplaceAll(args, ":", " ")
	}
	if strings.HasSuffix(mode, "-before") {
		s.Initrd = beforeInitrd
	}
	return s
}

// baseMode is mode without "-before".
func baseMode(mode string) string {
	mode, _, _ = strings.Cut(strings.TrimSuffix(mode, "-before"), "+")
	return mode
}

// startTimes are the points of one VM start, from QEMU's start.
type startTimes struct {
	running   time.Duration // Start or Restore returned
	started   time.Duration // the guest's app-started message arrived
	listening time.Duration // the guest's listening message arrived
	// listenUptime is the guest's uptime in its listening message: with
	// listening, it places the guest's stage stamps on the host's clock.
	listenUptime int64
	answered     time.Duration // first HTTP response
	// cpu is the host CPU time QEMU had used when the listening message
	// arrived: unlike the times above, it hardly grows with the load of
	// other processes on the host, so A/B rounds on a busy host compare.
	cpu time.Duration
}

// qemuCPU sums the CPU time of every thread of process pid.
func qemuCPU(pid int) time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

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
	modes := benchModes()
	tmpls := map[string]string{}
	for _, mode := range modes {
		if strings.HasSuffix(mode, "-before") && beforeInitrd == "" {
			beforeKernel(ctx, b)
		}
		if baseMode(mode) == "cold" {
			continue
		}
		tmpls[mode] = filepath.Join(b.TempDir(), mode)
		d.sharedMemory = baseMode(mode) == "shared"
		if err := d.BuildTemplate(ctx, modeSpec("tmpl", "", mode), tmpls[mode]); err != nil {
			b.Fatal(err)
		}
	}
	took := map[string]startTimes{}
	b.ResetTimer()
	for i := range b.N {
		for _, mode := range modes {
			inst, t, err := startAnswering(ctx, b, d, ns, tmpls[mode], fmt.Sprintf("bench%d-%s", i, mode), mode, 0)
			if err != nil {
				b.Fatal(err)
			}
			stages := guestStages(inst.ConsolePath)
			roundLog(b, "%s round %d: running %v, config %v, started %v, listening %v, answered %v, qemu cpu %v; guest: %s listening=%dms", mode, i,
				t.running.Round(time.Millisecond), hostTimeOf(stages, "config", t).Round(time.Millisecond),
				t.started.Round(time.Millisecond), t.listening.Round(time.Millisecond),
				t.answered.Round(time.Millisecond), t.cpu.Round(time.Millisecond), stages, t.listenUptime)
			d.Destroy(context.Background(), inst.ID)
			sum := took[mode]
			sum.running += t.running
			sum.started += t.started
			sum.listening += t.listening
			sum.answered += t.answered
			sum.cpu += t.cpu
			took[mode] = sum
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	for _, mode := range modes {
		b.ReportMetric(ms(took[mode].answered), "ms/"+mode)
		b.ReportMetric(ms(took[mode].listening), "ms-listening/"+mode)
		b.ReportMetric(ms(took[mode].running), "ms-running/"+mode)
		b.ReportMetric(ms(took[mode].started), "ms-started/"+mode)
		b.ReportMetric(ms(took[mode].cpu), "ms-cpu/"+mode)
	}
	if os.Getenv("VMSTART_NO_MEMORY") != "" {
		return
	}
	for _, mode := range modes {
		rss, pss, uss := idleMemory(ctx, b, d, ns, tmpls[mode], mode)
		b.ReportMetric(rss, "MiB-rss/"+mode)
		b.ReportMetric(pss, "MiB-pss/"+mode)
		b.ReportMetric(uss, "MiB-uss/"+mode)
	}
}

// roundLog logs one round's line, and prints it on stderr as well when
// VMSTART_VERBOSE is set: a benchmark's log is cut after a few rounds.
func roundLog(b *testing.B, format string, args ...any) {
	b.Logf(format, args...)
	if os.Getenv("VMSTART_VERBOSE") != "" {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
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

// guestStages returns the init's line of boot stage times (guest uptime)
// from a VM's console.
func guestStages(console string) string {
	b, _ := os.ReadFile(console)
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, "zeitwork-init: init="); i >= 0 {
			return strings.TrimSpace(l[i+len("zeitwork-init: "):])
		}
	}
	return "(no stages on the console)"
}

// hostTimeOf places the guest stage stamp (uptime in ms, 10 ms steps) on
// the host's clock, from QEMU's start, using the listening message as the
// reference; -1 when a stamp is missing.
func hostTimeOf(stages, stage string, t startTimes) time.Duration {
	for _, f := range strings.Fields(stages) {
		v, ok := strings.CutPrefix(f, stage+"=")
		if !ok {
			continue
		}
		ms, err := strconv.ParseInt(strings.TrimSuffix(v, "ms"), 10, 64)
		if err != nil || t.listenUptime == 0 || t.listening == 0 {
			break
		}
		return t.listening - time.Duration(t.listenUptime-ms)*time.Millisecond
	}
	return -1
}

// startAnswering starts VM id (booted, or restored from tmpl), on tap i of
// the namespace, configures it and returns it with the times from the
// start to it running, to the guest's listening message and to its first
// HTTP response.
func startAnswering(ctx context.Context, tb testing.TB, d *Driver, ns, tmpl, id, mode string, i int) (*vmm.Instance, startTimes, error) {
	var t startTimes
	spec := modeSpec(id, makeRootDisk(tb), mode)
	spec.Network = vmm.NetworkSpec{TapName: fmt.Sprintf("zwsnap%d", i), MAC: snapMAC(i), NetNS: ns}
	// The template key includes the memory layout: restore as built.
	d.sharedMemory = baseMode(mode) == "shared"
	start := time.Now()
	var inst *vmm.Instance
	var err error
	if baseMode(mode) == "cold" {
		inst, err = d.Start(ctx, spec)
	} else {
		inst, err = d.Restore(ctx, spec, tmpl)
	}
	if err != nil {
		return nil, t, err
	}
	t.running = time.Since(start)
	c, err := channel.Dial(ctx, inst.ControlSocket)
	if err != nil {
		d.Destroy(context.Background(), inst.ID)
		return nil, t, err
	}
	defer c.Close()
	type listenMsg struct {
		at, started time.Duration
		uptime      int64
		cpu         time.Duration
	}
	listening := make(chan listenMsg, 1)
	go func() {
		var started time.Duration
		for {
			m, err := c.Receive()
			if err != nil {
				return
			}
			if m.Kind == channel.KindStarted {
				started = time.Since(start)
			}
			if m.Kind == channel.KindListening {
				listening <- listenMsg{time.Since(start), started, m.UptimeMS, qemuCPU(inst.PID)}
				return
			}
		}
	}()
	addr := fmt.Sprintf("10.251.%d.2", i)
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: addr + "/24", Gateway: fmt.Sprintf("10.251.%d.1", i), MAC: snapMAC(i)}
	if err := c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		d.Destroy(context.Background(), inst.ID)
		return nil, t, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(ns)}, Timeout: time.Second}
	for ctx.Err() == nil {
		if resp, err := client.Get("http://" + addr + ":8080/"); err == nil {
			resp.Body.Close()
			t.answered = time.Since(start)
			select {
			case l := <-listening:
				t.listening, t.started, t.listenUptime, t.cpu = l.at, l.started, l.uptime, l.cpu
			case <-time.After(time.Second):
			}
			return inst, t, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.Destroy(context.Background(), inst.ID)
	return nil, t, ctx.Err()
}
