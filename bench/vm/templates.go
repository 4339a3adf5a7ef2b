package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

// The template rows: a second platform in the same process, with VM
// templates on (`zeitwork up --vm-templates`), its own VM network and
// database, deploys the same image three instances at a time and wakes a
// scaled-to-zero deployment, in the same rounds as the cold-boot platform,
// so that both see the same machine load. Its node builds the template at
// start; timing begins only once the template is on disk.
func init() {
	register(capability{name: "wake-restore", measure: func(ctx context.Context, b *bench) (float64, error) { return b.tmpl.measureWake(ctx) }})
}

// startPlatform starts one in-process platform on its own VM network.
func startPlatform(ctx context.Context, dir, netName, subnet, transit string, templates bool) (*platform.Platform, error) {
	return platform.Start(ctx, platform.Config{
		StateDir: dir, APIListen: "127.0.0.1:0", EdgeListen: "127.0.0.1:0",
		NetName: netName, Subnet: netip.MustParsePrefix(subnet), Transit: netip.MustParsePrefix(transit),
		Resync: time.Second, Heartbeat: time.Second, Templates: templates,
		// Tens of VMs booting at once on two shared cores: boots are slow,
		// and a timeout would turn the fit check into a restart storm.
		StartTimeout: 5 * time.Minute, DeployTimeout: 10 * time.Minute,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// startTemplated starts the templated platform beside b's and waits for
// its node's first template.
func (b *bench) startTemplated(ctx context.Context) (*bench, error) {
	dir := filepath.Join(b.dir, "templated")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p, err := startPlatform(ctx, dir, "zwvmt", tmplSubnet, tmplTransit, true)
	if err != nil {
		return nil, fmt.Errorf("templated platform: %w", err)
	}
	t := &bench{p: p, login: cli.Config{APIURL: p.APIURL, Token: p.Token}, dir: dir, layout: b.layout}
	if err := waitTemplate(ctx, filepath.Join(p.Nodes[0].StateDir(), "node", "templates")); err != nil {
		p.Shutdown(context.Background())
		return nil, err
	}
	if err := cli.CreateProject(ctx, t.login, api.CreateProjectRequest{Name: "vmbench", MinInstancesPerRegion: 3}); err != nil {
		p.Shutdown(context.Background())
		return nil, err
	}
	return t, nil
}

// waitTemplate polls until dir holds a complete template (its
// template.json is written last).
func waitTemplate(ctx context.Context, dir string) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(dir, "*", "template.json")); len(m) > 0 {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("no vm template in %s after 10 min", dir)
}

// templatedRound deploys three instances on the templated platform and
// records the deploy time, each restored instance's VM start to healthy,
// and how many of the three were restored (a cold boot after a failed
// restore still counts toward the deploy, as it would for a user).
func (b *bench) templatedRound(ctx context.Context, r *report) error {
	d, err := b.deploy(ctx, "vmbench")
	if err != nil {
		return fmt.Errorf("templated deploy: %w", err)
	}
	r.tmplDeployMS = append(r.tmplDeployMS, ms(d.ReadyAt.Sub(d.CreatedAt)))
	var evs []api.DeploymentEvent
	if err := getJSON(b.login, "/v1/deployments/"+d.ID+"/events", &evs); err == nil {
		for _, e := range evs {
			fmt.Fprintf(os.Stderr, "  %+6.0f ms %s: %s\n", ms(e.Time.Sub(d.CreatedAt)), e.Kind, e.Message)
		}
	}
	for _, in := range d.Instances {
		if in.State != api.InstanceHealthy {
			continue
		}
		r.tmplInstances++
		for k, v := range in.BootTimings {
			if r.tmplStages == nil {
				r.tmplStages = map[string][]float64{}
			}
			r.tmplStages[k] = append(r.tmplStages[k], v)
		}
		if _, ok := in.BootTimings["template_restore"]; !ok {
			fmt.Fprintf(os.Stderr, "templated instance %s booted cold: %q\n", in.ID, in.Reason)
			continue
		}
		r.restored++
		if v, ok := in.BootTimings["vm_to_healthy"]; ok {
			r.capResults["restore"] = append(r.capResults["restore"], v)
		}
		if v, ok := in.BootTimings["template_restore"]; ok {
			r.restoreMS = append(r.restoreMS, v)
		}
	}
	return nil
}
