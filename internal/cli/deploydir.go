package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
)

// sourceOptions are how `zeitwork deploy DIR` builds.
type sourceOptions struct {
	dockerfile, target, branch string
	maxMiB                     int64
}

// DeployDir builds dir from its Dockerfile and deploys the image to
// project with the given login, printing the build's log and the rollout
// to out (for `zeitwork up` and its sample app).
func DeployDir(ctx context.Context, cfg Config, out io.Writer, project, dir string) (api.Deployment, error) {
	hc, err := httpClient(cfg, 0)
	if err != nil {
		return api.Deployment{}, err
	}
	c := &client{cfg: cfg, http: hc}
	return deployDir(ctx, c, out, project, dir, sourceOptions{dockerfile: "Dockerfile", maxMiB: 100}, true, 10*time.Minute)
}

// deployDir uploads dir as a build context, shows the build's log as it
// runs, then the rollout of the deployment the build made.
func deployDir(ctx context.Context, c *client, out io.Writer, project, dir string, o sourceOptions, wait bool, timeout time.Duration) (api.Deployment, error) {
	var d api.Deployment
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return d, &UserError{Msg: fmt.Sprintf("%s is not a directory", dir),
			Hint: "give the directory with the Dockerfile, or --image REF to deploy an image"}
	}
	if o.dockerfile == "" {
		// The project's Dockerfile, as its git pushes use; packing needs
		// its name (it is sent even if .dockerignore excludes it).
		var p api.Project
		if err := c.do(ctx, "GET", "/v1/projects/"+url.PathEscape(project), nil, &p); err != nil {
			return d, err
		}
		o.dockerfile = cmp.Or(p.Dockerfile, "Dockerfile")
	}
	archive, sent, err := packContext(dir, o)
	if err != nil {
		return d, err
	}
	defer os.Remove(archive.Name())
	defer archive.Close()
	fi, _ := archive.Stat()
	fmt.Fprintf(out, "==> Uploading %s (%s of files, %s compressed)\n", dir, humanBytes(sent), humanBytes(fi.Size()))
	start := time.Now()
	b, err := uploadContext(ctx, c, project, archive, o)
	if err != nil {
		return d, err
	}
	fmt.Fprintf(out, "==> Build %s queued\n", b.ID[:8])
	if !wait {
		return d, nil
	}
	b, err = followBuild(ctx, c, b.ID, func(l api.BuildLogLine) { fmt.Fprintf(out, "    | %s\n", l.Text) })
	if err != nil {
		return d, err
	}
	if b.Status != api.BuildDone {
		return d, buildError(b)
	}
	fmt.Fprintf(out, "==> Built %s in %.1fs (%s)\n", b.Digest, time.Since(start).Seconds(), timingsLine(b.Timings))
	if err := c.do(ctx, "GET", "/v1/deployments/"+url.PathEscape(b.Deployment), nil, &d); err != nil {
		return d, err
	}
	kind := "Deployment"
	if d.Preview {
		kind = "Preview deployment"
	}
	fmt.Fprintf(out, "==> %s %s of %s created\n", kind, d.ID, d.Project)
	return awaitDeployment(ctx, c, out, project, d, start, timeout)
}

// packContext writes dir as a tar.gz into a temporary file, so that its
// size is known before the upload starts; it returns the file, rewound,
// and the bytes of file content in it.
func packContext(dir string, o sourceOptions) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "zeitwork-context-*.tar.gz")
	if err != nil {
		return nil, 0, err
	}
	sent, err := buildcontext.Pack(dir, o.dockerfile, f, o.maxMiB<<20)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if errors.Is(err, buildcontext.ErrTooLarge) {
			return nil, 0, &UserError{Msg: err.Error(),
				Hint: "add what the build does not need (node_modules, .git, build output) to .dockerignore, or raise --max-context"}
		}
		return nil, 0, &UserError{Msg: fmt.Sprintf("pack %s: %v", dir, err)}
	}
	return f, sent, nil
}

func uploadContext(ctx context.Context, c *client, project string, archive *os.File, o sourceOptions) (api.Build, error) {
	var b api.Build
	q := url.Values{}
	q.Set("dockerfile", o.dockerfile)
	if o.target != "" {
		q.Set("target", o.target)
	}
	if o.branch != "" {
		q.Set("branch", o.branch)
	}
	req, err := c.request(ctx, "POST", "/v1/projects/"+url.PathEscape(project)+"/builds?"+q.Encode(), archive)
	if err != nil {
		return b, err
	}
	req.Header.Set("Content-Type", "application/gzip")
	if fi, err := archive.Stat(); err == nil {
		req.ContentLength = fi.Size()
	}
	resp, err := c.send(req)
	if err != nil {
		return b, err
	}
	defer resp.Body.Close()
	return b, json.NewDecoder(resp.Body).Decode(&b)
}
