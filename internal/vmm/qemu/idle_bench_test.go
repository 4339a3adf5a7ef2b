package qemu

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/procstat"
	"github.com/zeitwork/zeitwork/internal/vmm"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// idleVariant is one way BenchmarkVMIdle runs an idle VM restored from a
// shared-memory template.
type idleVariant struct {
	// before runs the VM as the driver did before the idle work: the guest
	// init in $IDLE_OLD_INIT (a binary built from that commit), QEMU's PIT
	// on, kcompactd's proactive wakeups on, and huge pages.
	before bool
	// tbMiB is TCG's translation cache size.
	tbMiB int
	// orphan closes the host end of the control channel once the app
	// answers (a VM whose agent is gone); otherwise it stays open, as the
	// node agent keeps it.
	orphan bool
	// probed connects to the app every 2 s, as the node agent's health
	// check does.
	probed bool
	// env is added to QEMU's environment.
	env string
}

func (v idleVariant) String() string {
	s := fmt.Sprintf("tb%d", v.tbMiB)
	if v.before {
		s = "before-" + s
	}
	if v.orphan {
		s += "-orphan"
	}
	if v.probed {
		s += "-probed"
	}
	if v.env != "" {
		s += "+" + strings.ReplaceAll(v.env, " ", "+")
	}
	return s
}

// idleVariants: what ran before (with and without health checks), and
// now, with translation caches of 32, 24 and 16 MiB, the default size
// health-checked, and orphaned (no agent connected).
func idleVariants(old bool) []idleVariant {
	vs := []idleVariant{
		{tbMiB: 32}, {tbMiB: 24}, {tbMiB: 16},
		{tbMiB: DefaultTCGCacheMiB, probed: true},
		{tbMiB: DefaultTCGCacheMiB, orphan: true},
	}
	if e := os.Getenv("IDLE_QEMU_ENV"); e != "" {
		vs = append(vs, idleVariant{tbMiB: DefaultTCGCacheMiB, env: e})
	}
	if old {
		vs = append([]idleVariant{{before: true, tbMiB: 32}, {before: true, tbMiB: 32, probed: true}}, vs...)
	}
	return vs
}

// legacyArgv undoes pit=off and the kcompactd option in QEMU's arguments.
func legacyArgv(argv []string) []string {
	out := slices.Clone(argv)
	for i, a := range out {
		a = strings.ReplaceAll(a, ","+tcgIdleMachine, "")
		out[i] = strings.ReplaceAll(a, " sysctl.vm.compaction_proactiveness=0", "")
	}
	return out
}

// BenchmarkVMIdle runs idleVariants side by side: per round it restores
// one VM of each (in an order that rotates between rounds), times QEMU
// start to the app's first HTTP response, lets all of them idle together
// and reads their unique memory, host CPU and context switches (wakeups
// of QEMU's threads) over the same window:
//
//	IDLE_OLD_INIT=/path/to/old/zeitwork-init IDLE_WINDOW=30s \
//	go test -run '^$' -bench VMIdle -benchtime 3x ./internal/vmm/qemu/
//
// IDLE_ONLY=<variant>,... runs only those (e.g. tb24-probed), for looking
// at a QEMU while it idles; IDLE_QEMU_ENV=K=V adds a variant whose QEMU
// runs with that environment.
func BenchmarkVMIdle(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	window := 30 * time.Second
	if w, err := time.ParseDuration(os.Getenv("IDLE_WINDOW")); err == nil && w > 0 {
		window = w
	}
	d, err := New(Config{StateDir: b.TempDir(), CgroupParent: testCgroupParent})
	if err != nil {
		b.Fatal(err)
	}
	if !d.sharedMemory {
		b.Fatal("this host cannot seal memfds; the benchmark measures shared-memory restores")
	}
	// The "before" variants run only with an earlier init: they stand
	// for that commit's VMs.
	initrds := map[bool]string{false: testKernel.Initrd}
	if p := os.Getenv("IDLE_OLD_INIT"); p != "" {
		k, err := guestkernel.Prepare(ctx, guestkernel.DefaultCacheDir, p)
		if err != nil {
			b.Fatal(err)
		}
		initrds[true] = k.Initrd
	}
	var vs []idleVariant
	for _, v := range idleVariants(initrds[true] != "") {
		if only := os.Getenv("IDLE_ONLY"); only == "" || slices.Contains(strings.Split(only, ","), v.String()) {
			vs = append(vs, v)
		}
	}
	ns := snapNetNS(b, len(vs))
	tmpls := map[string]string{}
	for _, v := range vs {
		if tmpls[v.template()] != "" {
			continue
		}
		v.configure(d)
		dir := filepath.Join(b.TempDir(), v.template())
		if err := d.BuildTemplate(ctx, v.spec("tmpl", "", initrds), dir); err != nil {
			b.Fatal(err)
		}
		tmpls[v.template()] = dir
	}
	sum := map[idleVariant]*idleFigures{}
	for _, v := range vs {
		sum[v] = &idleFigures{}
	}
	b.ResetTimer()
	for round := range b.N {
		load, _ := os.ReadFile("/proc/loadavg")
		b.Logf("round %d: load average %s", round, strings.TrimSpace(string(load)))
		figs := idleRound(ctx, b, d, ns, tmpls, initrds, vs, round, window)
		for _, v := range vs {
			f := figs[v]
			sum[v].add(f)
			b.Logf("round %d %-40v start %5d ms  uss %5.1f MiB  anon %5.1f MiB  pss %5.1f MiB  cpu %5.2f%%  %7.1f switches/s",
				round, v, f.start.Milliseconds(), f.uss, f.anon, f.pss, f.cpu, f.switches)
		}
	}
	b.StopTimer()
	for _, v := range vs {
		f, n := sum[v], float64(b.N)
		tag := "/" + v.String()
		b.ReportMetric(float64(f.start.Milliseconds())/n, "ms"+tag)
		b.ReportMetric(f.uss/n, "MiB-uss"+tag)
		b.ReportMetric(f.anon/n, "MiB-anon"+tag)
		b.ReportMetric(f.cpu/n, "%cpu"+tag)
		b.ReportMetric(f.switches/n, "switches/s"+tag)
	}
	// How many idle instances fit, from the health-checked VM of the
	// default settings (as the node runs them; its template is shared
	// with two others, so its USS is its own memory): by memory, the
	// host's less 1 GiB over its USS; by CPU, all cores over its idle CPU.
	if f := sum[idleVariant{tbMiB: DefaultTCGCacheMiB, probed: true}]; f != nil && f.uss > 0 && f.cpu > 0 {
		n := float64(b.N)
		b.ReportMetric(float64(memTotalMiB()-1024)/(f.uss/n), "fit-by-memory")
		b.ReportMetric(float64(runtime.NumCPU())*100/(f.cpu/n), "fit-by-cpu")
	}
}

// memTotalMiB is the host's memory (MemTotal of /proc/meminfo).
func memTotalMiB() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb / 1024
		}
	}
	return 0
}

// template names the template a variant restores from: one per init and
// cache size (the size is part of the template key).
func (v idleVariant) template() string {
	return fmt.Sprintf("before-%v-tb%d-%s", v.before, v.tbMiB, strings.ReplaceAll(v.env, " ", ","))
}

func (v idleVariant) spec(id, disk string, initrds map[bool]string) vmm.Spec {
	s := baseSpec(id, disk)
	s.Initrd = initrds[v.before]
	return s
}

// configure sets the driver up for the variant's next VM.
func (v idleVariant) configure(d *Driver) {
	d.cfg.TCGCacheMiB, d.jailHook = v.tbMiB, nil
	d.jailHook = func(js *jail.Spec) {
		if v.before {
			js.Args, js.NoHugePages = legacyArgv(js.Args), false
		}
		js.Env = append(js.Env, strings.Fields(v.env)...)
	}
}

// idleFigures are one VM's figures, or their sums over rounds.
type idleFigures struct {
	start                         time.Duration
	uss, pss, anon, cpu, switches float64
}

func (f *idleFigures) add(o idleFigures) {
	f.start += o.start
	f.uss += o.uss
	f.pss += o.pss
	f.anon += o.anon
	f.cpu += o.cpu
	f.switches += o.switches
}

// idleRound restores one VM per variant, then measures them idling
// together over window.
func idleRound(ctx context.Context, b *testing.B, d *Driver, ns string, tmpls map[string]string, initrds map[bool]string, vs []idleVariant, round int, window time.Duration) map[idleVariant]idleFigures {
	out := map[idleVariant]idleFigures{}
	insts := map[idleVariant]*vmm.Instance{}
	var conns []*channel.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		for _, inst := range insts {
			d.Destroy(context.Background(), inst.ID)
		}
	}()
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	for k := range vs {
		i := (k + round) % len(vs)
		v := vs[i]
		v.configure(d)
		spec := v.spec(fmt.Sprintf("idle%d-%d", round, i), makeRootDisk(b), initrds)
		inst, c, took, err := restoreServing(ctx, d, ns, tmpls[v.template()], spec, i)
		if err != nil {
			b.Fatal(err)
		}
		insts[v] = inst
		if v.orphan {
			c.Close()
		} else {
			conns = append(conns, c)
		}
		if v.probed {
			go probeEvery(probeCtx, ns, fmt.Sprintf("10.251.%d.2:8080", i))
		}
		out[v] = idleFigures{start: took}
	}
	time.Sleep(10 * time.Second) // settling: a measurement, not a wait for readiness
	first := map[idleVariant]procstat.Sample{}
	firstSw := map[idleVariant]int64{}
	threads := map[idleVariant]map[string]int64{}
	for v, inst := range insts {
		s, err := procstat.Read(inst.PID)
		if err != nil {
			b.Fatal(err)
		}
		threads[v] = map[string]int64{}
		first[v], firstSw[v] = s, contextSwitches(inst.PID, threads[v])
	}
	time.Sleep(window) // the measuring window
	for v, inst := range insts {
		s, err := procstat.Read(inst.PID)
		if err != nil {
			b.Fatal(err)
		}
		f := out[v]
		f.uss = float64(s.USS) / (1 << 20)
		f.pss = float64(s.PSS) / (1 << 20)
		f.cpu = procstat.CPUPercent(first[v], s)
		after := map[string]int64{}
		f.switches = float64(contextSwitches(inst.PID, after)-firstSw[v]) / s.At.Sub(first[v].At).Seconds()
		f.anon = float64(rollup(inst.PID)["Anonymous"]) / 1024
		out[v] = f
		if round == 0 {
			b.Logf("%v: largest anonymous mappings (MiB resident of size): %s", v, largestAnon(inst.PID))
			var per []string
			for name, n := range after {
				per = append(per, fmt.Sprintf("%s %.1f/s", name, float64(n-threads[v][name])/window.Seconds()))
			}
			slices.Sort(per)
			b.Logf("%v: context switches by thread: %s", v, strings.Join(per, ", "))
		}
	}
	return out
}

// restoreServing restores spec's VM from tmpl on tap i of the namespace,
// configures it to serve HTTP and returns it, its control channel (open)
// and the time from the start to its first HTTP response.
func restoreServing(ctx context.Context, d *Driver, ns, tmpl string, spec vmm.Spec, i int) (*vmm.Instance, *channel.Conn, time.Duration, error) {
	spec.Network = vmm.NetworkSpec{TapName: fmt.Sprintf("zwsnap%d", i), MAC: snapMAC(i), NetNS: ns}
	start := time.Now()
	inst, err := d.Restore(ctx, spec, tmpl)
	if err != nil {
		return nil, nil, 0, err
	}
	fail := func(err error) (*vmm.Instance, *channel.Conn, time.Duration, error) {
		d.Destroy(context.Background(), inst.ID)
		return nil, nil, 0, err
	}
	c, err := channel.Dial(ctx, inst.ControlSocket)
	if err != nil {
		return fail(err)
	}
	addr := fmt.Sprintf("10.251.%d.2", i)
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: addr + "/24", Gateway: fmt.Sprintf("10.251.%d.1", i), MAC: snapMAC(i)}
	if err := c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		c.Close()
		return fail(err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(ns), DisableKeepAlives: true}, Timeout: time.Second}
	for ctx.Err() == nil {
		if resp, err := client.Get("http://" + addr + ":8080/"); err == nil {
			resp.Body.Close()
			return inst, c, time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	return fail(ctx.Err())
}

// probeEvery connects to addr every healthInterval, as the node agent's
// TCP health check does, until ctx ends.
func probeEvery(ctx context.Context, ns, addr string) {
	dial := dialInNetNS(ns)
	t := time.NewTicker(healthIntervalForBench)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c, err := dial(ctx, "tcp", addr); err == nil {
				c.Close()
			}
		}
	}
}

// healthIntervalForBench is the node agent's health check interval
// (internal/node's healthInterval).
const healthIntervalForBench = 2 * time.Second

// contextSwitches sums the voluntary and involuntary context switches of
// all of pid's threads (each is a wakeup of a QEMU thread), and adds each
// thread's to byThread (by name) when it is not nil.
func contextSwitches(pid int, byThread map[string]int64) int64 {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, f := range files {
		b, _ := os.ReadFile(f)
		name := ""
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			if k == "Name" {
				name = v
			}
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
				if byThread != nil {
					byThread[name] += x
				}
			}
		}
	}
	return n
}

// largestAnon lists pid's three largest anonymous mappings by resident
// size: the TCG translation cache, QEMU's heap, copied guest pages.
func largestAnon(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	type mapping struct {
		name      string
		size, rss int64
	}
	var ms []mapping
	var cur mapping
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			if cur.rss > 0 {
				ms = append(ms, cur)
			}
			cur = mapping{name: "anon"}
			if len(f) >= 6 {
				cur.name = f[5]
			}
		case len(f) == 3 && f[0] == "Size:":
			cur.size, _ = strconv.ParseInt(f[1], 10, 64)
		case len(f) == 3 && f[0] == "Anonymous:":
			cur.rss, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if cur.rss > 0 {
		ms = append(ms, cur)
	}
	slices.SortFunc(ms, func(a, b mapping) int { return int(b.rss - a.rss) })
	var out []string
	for _, m := range ms[:min(4, len(ms))] {
		out = append(out, fmt.Sprintf("%s %.1f of %.1f", m.name, float64(m.rss)/1024, float64(m.size)/1024))
	}
	return strings.Join(out, ", ")
}
