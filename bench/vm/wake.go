package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// The wake row: a request to a deployment that has scaled to zero, from
// the moment it is sent until its response arrives. The edge holds it,
// wakes one instance (a restore where the node has templates, else a cold
// boot) and forwards it once the instance is healthy.
func init() {
	register(capability{name: "wake", measure: func(ctx context.Context, b *bench) (float64, error) { return b.measureWake(ctx) }})
}

// wakeProject scales to zero in production too, after the shortest idle
// time the API allows, so that a round needs no preview branch.
const wakeProject = "vmbenchwake"

func (b *bench) measureWake(ctx context.Context) (float64, error) {
	d, err := b.wakeDeployment(ctx)
	if err != nil {
		return 0, err
	}
	if err := b.waitAsleep(ctx, d.ID); err != nil {
		return 0, err
	}
	u, err := url.Parse(b.p.EdgeURL)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String()+"/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = wakeProject + ".localhost"
	start := time.Now()
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("wake request: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("wake request: %s", resp.Status)
	}
	return ms(time.Since(start)), nil
}

// wakeDeployment makes the project and its deployment on first use.
func (b *bench) wakeDeployment(ctx context.Context) (api.Deployment, error) {
	var d api.Deployment
	if b.wake != "" {
		return api.Deployment{ID: b.wake}, nil
	}
	if err := call(b.login, "POST", "/v1/projects", api.CreateProjectRequest{Name: wakeProject, MinInstancesPerRegion: 1}, nil); err != nil {
		return d, err
	}
	all, idle := "all", 2
	if err := call(b.login, "PATCH", "/v1/projects/"+wakeProject, api.UpdateProjectRequest{ScaleToZero: &all, IdleTimeoutSeconds: &idle}, nil); err != nil {
		return d, err
	}
	d, err := b.deploy(ctx, wakeProject)
	if err != nil {
		return d, err
	}
	b.wake = d.ID
	return d, nil
}

// waitAsleep polls until the deployment has scaled to zero and its
// instances are gone.
func (b *bench) waitAsleep(ctx context.Context, id string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var d api.Deployment
		if err := getJSON(b.login, "/v1/deployments/"+id, &d); err != nil {
			return err
		}
		live := 0
		for _, in := range d.Instances {
			if in.State == api.InstanceHealthy || in.State == api.InstanceStarting {
				live++
			}
		}
		if d.Asleep && live == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("deployment %s did not scale to zero within 3 min", id)
}
