package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/procstat"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// idleCacheSizes are the TCG translation cache sizes (MiB) that
// BenchmarkVMIdle compares.
var idleCacheSizes = []int{8, 16, 24, 32}

// idleVariant is one way BenchmarkVMIdle runs a VM: a translation cache
// size, with or without the huge pages QEMU asks for on it.
type idleVariant struct {
	tbMiB int
	huge  bool
}

func (v idleVariant) String() string {
	if v.huge {
		return fmt.Sprintf("tb%d-thp", v.tbMiB)
	}
	return fmt.Sprintf("tb%d", v.tbMiB)
}

func idleVariants() []idleVariant {
	var vs []idleVariant
	for _, huge := range []bool{true, false} {
		for _, mib := range idleCacheSizes {
			vs = append(vs, idleVariant{mib, huge})
		}
	}
	return vs
}

// BenchmarkVMIdle compares TCG translation cache sizes, each with and
// without transparent huge pages under the cache (the "-thp" variants are
// how QEMU ran before the jail turned them off), side by side: per round
// it restores one VM per variant from its size's shared-memory template
// (in an order that rotates between rounds), times QEMU start to the
// first HTTP response, lets all of them idle together and reads their
// unique memory, host CPU and context switches over the same window:
//
//	go test -run '^$' -bench VMIdle -benchtime 3x ./internal/vmm/qemu/
//
// IDLE_WINDOW (a duration, default 30s) sets the window.
func BenchmarkVMIdle(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
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
	vs := idleVariants()
	ns := snapNetNS(b, len(vs))
	tmpls := map[int]string{}
	for _, mib := range idleCacheSizes {
		d.cfg.TCGCacheMiB = mib
		tmpls[mib] = filepath.Join(b.TempDir(), strconv.Itoa(mib))
		if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), tmpls[mib]); err != nil {
			b.Fatal(err)
		}
	}
	sum := map[idleVariant]*idleFigures{}
	for _, v := range vs {
		sum[v] = &idleFigures{}
	}
	b.ResetTimer()
	for round := range b.N {
		figs := idleRound(ctx, b, d, ns, tmpls, vs, round, window)
		for v, f := range figs {
			sum[v].add(f)
			b.Logf("round %d %v: start %v, uss %.1f MiB, pss %.1f MiB, cpu %.2f%%, %.1f switches/s",
				round, v, f.start, f.uss, f.pss, f.cpu, f.switches)
		}
	}
	b.StopTimer()
	for _, v := range vs {
		f, n := sum[v], float64(b.N)
		tag := "/" + v.String()
		b.ReportMetric(float64(f.start.Milliseconds())/n, "ms"+tag)
		b.ReportMetric(f.uss/n, "MiB-uss"+tag)
		b.ReportMetric(f.pss/n, "MiB-pss"+tag)
		b.ReportMetric(f.cpu/n, "%cpu"+tag)
		b.ReportMetric(f.switches/n, "switches/s"+tag)
	}
}

// idleFigures are one VM's figures, or their sums over rounds.
type idleFigures struct {
	start                   time.Duration
	uss, pss, cpu, switches float64
}

func (f *idleFigures) add(o idleFigures) {
	f.start += o.start
	f.uss += o.uss
	f.pss += o.pss
	f.cpu += o.cpu
	f.switches += o.switches
}

// idleRound restores one VM per cache size, then measures them idling
// together over window.
func idleRound(ctx context.Context, b *testing.B, d *Driver, ns string, tmpls map[int]string, vs []idleVariant, round int, window time.Duration) map[idleVariant]idleFigures {
	out := map[idleVariant]idleFigures{}
	insts := map[idleVariant]*vmm.Instance{}
	defer func() {
		for _, inst := range insts {
			d.Destroy(context.Background(), inst.ID)
		}
	}()
	for k := range vs {
		i := (k + round) % len(vs)
		v := vs[i]
		d.cfg.TCGCacheMiB, d.hugeTBCache = v.tbMiB, v.huge
		inst, took, err := startAnswering(ctx, b, d, ns, tmpls[v.tbMiB], fmt.Sprintf("idle%d-%v", round, v), "shared", i)
		if err != nil {
			b.Fatal(err)
		}
		insts[v] = inst
		out[v] = idleFigures{start: took}
	}
	time.Sleep(10 * time.Second) // settling: a measurement, not a wait for readiness
	first := map[idleVariant]procstat.Sample{}
	firstSw := map[idleVariant]int64{}
	for v, inst := range insts {
		s, err := procstat.Read(inst.PID)
		if err != nil {
			b.Fatal(err)
		}
		first[v], firstSw[v] = s, contextSwitches(inst.PID)
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
		f.switches = float64(contextSwitches(inst.PID)-firstSw[v]) / s.At.Sub(first[v].At).Seconds()
		out[v] = f
	}
	return out
}

// contextSwitches sums the voluntary and involuntary context switches of
// all of pid's threads: each is a wakeup of a QEMU thread.
func contextSwitches(pid int) int64 {
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, f := range dirs {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}
