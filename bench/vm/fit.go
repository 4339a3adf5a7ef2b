package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
)

// fitResult is the check of the fit estimate: o.fit more idle instances
// booted at once, measured together, then removed.
type fitResult struct {
	instances  int
	bootMS     float64 // deploy request to all healthy
	cpuPct     float64 // all of them, percent of one core
	uss, pss   uint64  // sums
	availDrop  uint64  // MemAvailable before the deploy less after settling
	medianUSS  uint64
	medianCPU  float64
	allStopped bool
	// failed says why not all instances became healthy, if they did not.
	failed string
}

func (b *bench) fitCheck(ctx context.Context, o options, r *report) error {
	if err := cli.CreateProject(ctx, b.login, api.CreateProjectRequest{Name: "vmfit", MinInstancesPerRegion: o.fit}); err != nil {
		return err
	}
	before := memAvailable()
	fmt.Fprintf(os.Stderr, "fit: booting %d instances at once\n", o.fit)
	d, err := b.deploy(ctx, "vmfit")
	if err != nil {
		// On a machine too busy to boot them all in time, say so and
		// still give the machine back.
		if d.ID == "" {
			return err
		}
		r.fit = &fitResult{failed: err.Error(), instances: o.fit}
		r.fit.allStopped = b.remove(ctx, d) == nil
		return ctx.Err()
	}
	f := &fitResult{instances: len(healthyIDs(d)), bootMS: ms(d.ReadyAt.Sub(d.CreatedAt))}
	r.fit = f
	if err := sleep(ctx, o.settle); err != nil {
		return err
	}
	after := memAvailable()
	if before > after {
		f.availDrop = before - after
	}
	idle, err := b.measureIdle(ctx, healthyIDs(d), o.idleWindow)
	if err != nil {
		return err
	}
	var uss []uint64
	var cpu []float64
	for _, v := range idle {
		f.cpuPct += v.cpuPct
		f.uss += v.uss
		f.pss += v.pss
		uss, cpu = append(uss, v.uss), append(cpu, v.cpuPct)
	}
	f.medianUSS, f.medianCPU = medianU(uss), median(cpu)
	f.allStopped = b.remove(ctx, d) == nil
	fmt.Fprintf(os.Stderr, "fit: %d instances healthy in %.0f ms, %.2f%% of a core together; removed: %v\n",
		f.instances, f.bootMS, f.cpuPct, f.allStopped)
	return nil
}

// remove deletes a deployment and waits until its VMs are gone: the
// machine is shared, so it is given back before the run goes on.
func (b *bench) remove(ctx context.Context, d api.Deployment) error {
	var full api.Deployment
	if err := getJSON(b.login, "/v1/deployments/"+d.ID, &full); err != nil {
		return err
	}
	pids := map[int]bool{}
	for _, in := range full.Instances {
		if pid, err := b.qemuPID(in.ID); err == nil {
			pids[pid] = true
		}
	}
	if err := call(b.login, "DELETE", "/v1/deployments/"+d.ID, nil, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for anyAlive(pids) {
		if time.Now().After(deadline) {
			return fmt.Errorf("deployment %s: VMs still running after 3 minutes", d.ID)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil
}

func anyAlive(pids map[int]bool) bool {
	for pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			return true
		}
	}
	return false
}

// memAvailable is the host's MemAvailable in bytes.
func memAvailable() uint64 { return meminfo("MemAvailable:") }

// memTotal is the host's MemTotal in bytes.
func memTotal() uint64 { return meminfo("MemTotal:") }

func meminfo(key string) uint64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
