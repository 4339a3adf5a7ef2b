package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// report collects a run's figures and prints them.
type report struct {
	started            time.Time
	accel, kernel, cpu string
	cores              int
	load, loadEnd      string
	deployMS           []float64 // deploy created to ready, per round
	listenMS           []float64 // VM start to host health check passing, per instance
	guestListenMS      []float64 // VM start to /init plus /init to listening (guest clock)
	capResults         map[string][]float64
	tmplDeployMS       []float64            // templated platform: deploy created to ready, per round
	restoreMS          []float64            // the driver's restore, per restored instance
	restored           int                  // instances of the templated deploys that restored
	tmplInstances      int                  // healthy instances of the templated deploys
	tmplStages         map[string][]float64 // the templated instances' boot timings, by stage
	idle               []vmIdle
	apiUsage           []api.InstanceUsage
	fit                *fitResult
}

const mib = 1 << 20

// Targets from issue 11, on this kind of machine (TCG).
const (
	targetListenMS = 800
	targetDeployMS = 2000
	targetUSSMiB   = 60
	targetCPUPct   = 0.5
	// hostReserve is memory kept for the host (agent, page cache) when
	// estimating how many instances fit.
	hostReserve = 1 << 30
)

func (r *report) String() string {
	w := &strings.Builder{}
	fmt.Fprintf(w, "Zeitwork VM benchmark (bench/vm), %s\n", r.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Machine: %s, %d cores, %.1f GiB; accelerator %s; guest kernel %s; 256 MiB, 1 vCPU per VM.\n",
		r.cpu, r.cores, float64(memTotal())/(1<<30), strings.ToUpper(r.accel), r.kernel)
	fmt.Fprintf(w, "Load average (1 min) at start %s, at end %s: the machine is shared with other engineers'\nbuilds, tests and VMs, so times are upper bounds of what a quiet machine gives.\n\n", r.load, r.loadEnd)

	fmt.Fprintf(w, "%-62s %12s %12s %12s\n", "measure", "median", "best", "target")
	row := func(name string, v []float64, target string, unit string) {
		if len(v) == 0 {
			fmt.Fprintf(w, "%-62s %12s %12s %12s\n", name, "-", "-", target)
			return
		}
		fmt.Fprintf(w, "%-62s %12s %12s %12s\n", name, fmt.Sprintf("%.0f %s", median(v), unit), fmt.Sprintf("%.0f %s", minOf(v), unit), target)
	}
	row(fmt.Sprintf("VM start to app listening, cold boot (host check; n=%d)", len(r.listenMS)), r.listenMS, fmt.Sprintf("< %d ms", targetListenMS), "ms")
	row("  same, guest clock (vm_to_init + init_to_listening)", r.guestListenMS, "", "ms")
	row(fmt.Sprintf("deploy to 3 healthy, cold boot (n=%d)", len(r.deployMS)), r.deployMS, fmt.Sprintf("< %d ms", targetDeployMS), "ms")
	row(fmt.Sprintf("deploy to 3 healthy, templates on (n=%d; %d of %d restored)", len(r.tmplDeployMS), r.restored, r.tmplInstances), r.tmplDeployMS, fmt.Sprintf("< %d ms", targetDeployMS), "ms")
	for _, k := range knownCapabilities {
		v, ok := r.capResults[k.name]
		if !ok {
			fmt.Fprintf(w, "%-62s %12s %12s %12s\n", k.row, "below", "", k.target) // BenchmarkVMStart, appended by run.sh
			continue
		}
		row(fmt.Sprintf("%s (n=%d)", k.row, len(v)), v, k.target, "ms")
		if k.name == "restore" {
			row("  of which the driver's restore (QEMU start to running)", r.restoreMS, "", "ms")
		}
	}
	fmt.Fprintln(w)
	r.writeStages(w)
	r.writeIdle(w)
	r.writeFit(w)
	return w.String()
}

// writeStages lists the templated instances' boot timings as the node
// reported them (medians): where a deploy's time goes.
func (r *report) writeStages(w *strings.Builder) {
	if len(r.tmplStages) == 0 {
		return
	}
	keys := make([]string, 0, len(r.tmplStages))
	for k := range r.tmplStages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "Templated instances' stages as the node reported them (median ms):")
	for _, k := range keys {
		fmt.Fprintf(w, " %s %.0f", k, median(r.tmplStages[k]))
	}
	fmt.Fprintf(w, "\n\n")
}

func (r *report) writeIdle(w *strings.Builder) {
	if len(r.idle) == 0 {
		return
	}
	var uss, pss, shared, rss, cpu []float64
	for _, v := range r.idle {
		uss, pss, shared, rss = append(uss, float64(v.uss)/mib), append(pss, float64(v.pss)/mib), append(shared, float64(v.shared)/mib), append(rss, float64(v.rss)/mib)
		cpu = append(cpu, v.cpuPct)
	}
	fmt.Fprintf(w, "Idle instance (%d instances of the sample app, measured from /proc by the benchmark):\n", len(r.idle))
	fmt.Fprintf(w, "  unique memory (USS)        %6.1f MiB median   (target < %d MiB)\n", median(uss), targetUSSMiB)
	fmt.Fprintf(w, "  shared memory              %6.1f MiB median\n", median(shared))
	fmt.Fprintf(w, "  proportional (PSS)         %6.1f MiB median\n", median(pss))
	fmt.Fprintf(w, "  resident (RSS)             %6.1f MiB median\n", median(rss))
	fmt.Fprintf(w, "  host CPU                   %6.2f %% of a core median (max %.2f; target < %.1f)\n", median(cpu), maxOf(cpu), targetCPUPct)
	if len(r.apiUsage) > 0 {
		var a []string
		for _, u := range r.apiUsage {
			c := "-"
			if u.CPUPercent != nil {
				c = fmt.Sprintf("%.2f%%", *u.CPUPercent)
			}
			a = append(a, fmt.Sprintf("%.0f/%.0f MiB %s", float64(u.USSBytes)/mib, float64(u.SharedBytes)/mib, c))
		}
		fmt.Fprintf(w, "  as the node reported them (unique/shared, cpu; `zeitwork deployments show`): %s\n", strings.Join(a, ", "))
	}
	byMem := (memTotal() - hostReserve) / uint64(max(median(uss)*mib, 1))
	byCPU := float64(r.cores) * 100 / max(median(cpu), 0.01)
	fmt.Fprintf(w, "\nHow many idle instances fit (estimate): by memory (%.1f GiB less 1 GiB for the host, / unique memory) %d;\n",
		float64(memTotal())/(1<<30), byMem)
	fmt.Fprintf(w, "by CPU (%d cores / idle CPU) %.0f; so about %.0f. The single-node platform's scheduler offers\n", r.cores, byCPU, min(float64(byMem), byCPU))
	fmt.Fprintf(w, "fewer slots (each instance reserves 256 MiB and 1 vCPU, CPUs overcommitted 16x: 32 here).\n\n")
}

func (r *report) writeFit(w *strings.Builder) {
	f := r.fit
	if f == nil {
		fmt.Fprintln(w, "Fit check: skipped (-fit 0).")
		return
	}
	fmt.Fprintf(w, "Fit check: %d more instances deployed at once beside the 3 above.\n", f.instances)
	if f.failed != "" {
		fmt.Fprintf(w, "  not all became healthy: %s\n  all removed afterwards        %v\n", f.failed, f.allStopped)
		return
	}
	fmt.Fprintf(w, "  deploy to all %d healthy       %.1f s\n", f.instances, f.bootMS/1000)
	fmt.Fprintf(w, "  idle CPU, all %d together     %.2f %% of a core (median per instance %.2f %%)\n", f.instances, f.cpuPct, f.medianCPU)
	fmt.Fprintf(w, "  unique memory, all together  %.0f MiB (median per instance %.1f MiB); PSS sum %.0f MiB\n",
		float64(f.uss)/mib, float64(f.medianUSS)/mib, float64(f.pss)/mib)
	fmt.Fprintf(w, "  host MemAvailable dropped by %.0f MiB (includes their disks in the page cache and other users)\n", float64(f.availDrop)/mib)
	fmt.Fprintf(w, "  all removed afterwards        %v\n", f.allStopped)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianU(v []uint64) uint64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]uint64{}, v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
