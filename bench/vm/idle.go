package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/procstat"
)

// vmIdle is one idle instance's measurement.
type vmIdle struct {
	uss, pss, shared, rss uint64
	cpuPct                float64
}

// idle measures the live three-instance deployment after it settled:
// memory from smaps_rollup at the end, CPU over o.idleWindow, read by the
// benchmark from /proc, and what the node reports through the API.
func (b *bench) idle(ctx context.Context, o options, r *report) error {
	d, err := b.live("vmbench")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "idle: settling %s, then measuring %s\n", o.settle, o.idleWindow)
	if err := sleep(ctx, o.settle); err != nil {
		return err
	}
	r.idle, err = b.measureIdle(ctx, healthyIDs(d), o.idleWindow)
	if err != nil {
		return err
	}
	if err := getJSON(b.login, "/v1/deployments/"+d.ID, &d); err != nil {
		return err
	}
	for _, in := range d.Instances {
		if in.Usage != nil {
			r.apiUsage = append(r.apiUsage, *in.Usage)
		}
	}
	return nil
}

// measureIdle samples the QEMU processes of instances twice, window apart.
func (b *bench) measureIdle(ctx context.Context, instances []string, window time.Duration) ([]vmIdle, error) {
	var pids []int
	var first []procstat.Sample
	for _, id := range instances {
		pid, err := b.qemuPID(id)
		if err != nil {
			return nil, err
		}
		s, err := procstat.Read(pid)
		if err != nil {
			return nil, err
		}
		pids, first = append(pids, pid), append(first, s)
	}
	if err := sleep(ctx, window); err != nil {
		return nil, err
	}
	var out []vmIdle
	for i, pid := range pids {
		s, err := procstat.Read(pid)
		if err != nil {
			return nil, fmt.Errorf("instance %s ended while idle: %w", instances[i], err)
		}
		out = append(out, vmIdle{uss: s.USS, pss: s.PSS, shared: s.Shared, rss: s.RSS, cpuPct: procstat.CPUPercent(first[i], s)})
	}
	return out, nil
}

// live is the project's live deployment with its instances.
func (b *bench) live(project string) (api.Deployment, error) {
	var p api.Project
	if err := getJSON(b.login, "/v1/projects/"+project, &p); err != nil {
		return api.Deployment{}, err
	}
	var ds []api.Deployment
	if err := getJSON(b.login, "/v1/projects/"+project+"/deployments", &ds); err != nil {
		return api.Deployment{}, err
	}
	for _, d := range ds {
		if d.Live {
			var full api.Deployment
			err := getJSON(b.login, "/v1/deployments/"+d.ID, &full)
			return full, err
		}
	}
	return api.Deployment{}, fmt.Errorf("project %s has no live deployment", project)
}

func healthyIDs(d api.Deployment) []string {
	var ids []string
	for _, in := range d.Instances {
		if in.State == api.InstanceHealthy && in.Desired == "running" {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// qemuPID is the pid the driver recorded for an instance's VM.
func (b *bench) qemuPID(instance string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(b.p.StateDir(), "vms", instance, "pid"))
	if err != nil {
		return 0, fmt.Errorf("pid of instance %s: %w", instance, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
