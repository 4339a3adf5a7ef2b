package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

func deployCmd() *cobra.Command {
	var project, ref string
	var detach, asJSON bool
	var timeout time.Duration
	var src sourceOptions
	cmd := &cobra.Command{
		Use:   "deploy [DIR] [--project NAME] | deploy [--project NAME] --image REF",
		Short: "Build DIR (default .) from its Dockerfile and deploy it, or deploy an image",
		Long: `Without --image, DIR (default the current directory) is uploaded as a build
context, leaving out what its .dockerignore excludes (Docker's rules); the
operator builds it from its Dockerfile and deploys the image. The build's
log is shown as it runs.

With --image, REF is a registry reference (registry/app:tag), or the path of
a local OCI image layout directory or image archive, which is first pushed
into the operator's built-in registry.

Progress is shown until every instance is healthy; then the deployment's
versioned URL and the project URL are printed.

Without --project, the project linked to this directory or a parent
(` + "`zeitwork link`" + `) is used.`,
		Args: maxArgs(1, "give one DIR (default .), e.g. `zeitwork deploy -p my-app ./app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ref != "" && len(args) > 0 {
				return &UserError{Msg: "give either DIR or --image, not both", Hint: "zeitwork deploy -p my-app ./app, or zeitwork deploy -p my-app --image REF"}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			project, err := projectOrLinked(cmd, c, project, "give it: `zeitwork deploy --project my-app [DIR]`")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				out = io.Discard
			}
			var d api.Deployment
			if ref != "" {
				d, err = deploy(cmd.Context(), c, out, project, ref, !detach, timeout)
			} else {
				dir := "."
				if len(args) > 0 {
					dir = args[0]
				}
				d, err = deployDir(cmd.Context(), c, out, project, dir, src, !detach, timeout)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), d)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "project to deploy to (default: the linked one, see 'zeitwork link')")
	cmd.Flags().StringVarP(&ref, "image", "i", "", "image reference or local OCI layout/archive path")
	cmd.Flags().StringVarP(&src.dockerfile, "file", "f", "", "`PATH` of the Dockerfile within DIR (default: the project's, set with 'zeitwork projects update --dockerfile')")
	cmd.Flags().StringVar(&src.target, "target", "", "multi-stage target to build (default: the last stage)")
	cmd.Flags().StringVar(&src.branch, "branch", "", "branch the build is of; other than the project's production branch makes a preview")
	cmd.Flags().Int64Var(&src.maxMiB, "max-context", 100, "largest build context to send, in MiB")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deployment (or build) is created")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the final deployment as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the deployment")
	return cmd
}

// Deploy deploys ref (a registry reference or a local layout/archive path)
// to project with the given login, printing progress to out until the
// deployment is ready or failed.
func Deploy(ctx context.Context, cfg Config, out io.Writer, project, ref string) (api.Deployment, error) {
	hc, err := httpClient(cfg, 0)
	if err != nil {
		return api.Deployment{}, err
	}
	return deploy(ctx, &client{cfg: cfg, http: hc}, out, project, ref, true, 10*time.Minute)
}

func deploy(ctx context.Context, c *client, out io.Writer, project, ref string, wait bool, timeout time.Duration) (api.Deployment, error) {
	var d api.Deployment
	if _, statErr := os.Stat(ref); statErr == nil {
		var err error
		if ref, err = pushLocal(ctx, c, out, project, ref); err != nil {
			return d, err
		}
	} else if looksLikePath(ref) {
		return d, &UserError{Msg: fmt.Sprintf("%s: no such file or directory", ref),
			Hint: "give the path of an OCI image layout or archive, or a registry reference such as registry.example.com/app:v1"}
	}
	start := time.Now()
	if err := c.do(ctx, "POST", "/v1/projects/"+url.PathEscape(project)+"/deployments", api.CreateDeploymentRequest{Image: ref}, &d); err != nil {
		return d, err
	}
	fmt.Fprintf(out, "==> Deployment %s of %s created from %s\n", d.ID, d.Project, ref)
	if !wait {
		return d, nil
	}
	return awaitDeployment(ctx, c, out, project, d, start, timeout)
}

// awaitDeployment shows a new deployment's rollout until it is ready or
// failed, then its URLs.
func awaitDeployment(ctx context.Context, c *client, out io.Writer, project string, d api.Deployment, start time.Time, timeout time.Duration) (api.Deployment, error) {
	d, err := follow(ctx, c, out, d.ID, timeout)
	if err != nil {
		return d, err
	}
	switch d.Status {
	case api.StatusFailed:
		return d, &UserError{Msg: "deployment " + d.ID + " failed: " + d.Reason,
			Hint: "see `zeitwork logs " + d.ID + "` for the app's output"}
	case api.StatusReady:
		fmt.Fprintf(out, "==> Ready in %.1fs\n", time.Since(start).Seconds())
		fmt.Fprintf(out, "    %s\n", d.URL)
		if d.Live {
			var p api.Project
			if c.do(ctx, "GET", "/v1/projects/"+url.PathEscape(project), nil, &p) == nil {
				fmt.Fprintf(out, "    %s\n", p.URL)
			}
		}
	}
	return d, nil
}

// looksLikePath tells a local path from a registry reference.
func looksLikePath(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") ||
		strings.HasPrefix(ref, "~") || ref == "." || ref == ".."
}

// CreateProject creates a project unless it exists.
func CreateProject(ctx context.Context, cfg Config, req api.CreateProjectRequest) error {
	hc, err := httpClient(cfg, 0)
	if err != nil {
		return err
	}
	c := &client{cfg: cfg, http: hc}
	var p api.Project
	if err := c.do(ctx, "GET", "/v1/projects/"+url.PathEscape(req.Name), nil, &p); err == nil {
		return nil
	}
	return c.do(ctx, "POST", "/v1/projects", req, &p)
}

// pushLocal pushes a local layout or archive into the built-in registry and
// returns the reference the operator will pull.
func pushLocal(ctx context.Context, c *client, out io.Writer, project, path string) (string, error) {
	u, err := url.Parse(c.cfg.APIURL)
	if err != nil {
		return "", err
	}
	tag := time.Now().UTC().Format("20060102-150405")
	dst, err := name.ParseReference(fmt.Sprintf("%s/%s:%s", u.Host, project, tag), name.Insecure)
	if err != nil {
		return "", &UserError{Msg: fmt.Sprintf("cannot name an image for project %q: %v", project, err)}
	}
	fmt.Fprintf(out, "==> Pushing %s to the built-in registry\n", path)
	last := time.Time{}
	digest, err := image.Push(ctx, path, dst, &authn.Basic{Username: "zeitwork", Password: c.cfg.Token}, func(p image.Progress) {
		if time.Since(last) > 500*time.Millisecond || p.Complete == p.Total {
			last = time.Now()
			fmt.Fprintf(out, "    %s / %s\n", humanBytes(p.Complete), humanBytes(p.Total))
		}
	})
	if err != nil {
		return "", &UserError{Msg: fmt.Sprintf("push %s: %v", path, err),
			Hint: "give an OCI image layout directory (with index.json) or an image archive (docker save / OCI tar)"}
	}
	return dst.Context().Digest(digest).String(), nil
}

// follow prints a deployment's progress until it is ready, failed or stopped.
func follow(ctx context.Context, c *client, out io.Writer, id string, timeout time.Duration) (api.Deployment, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d api.Deployment
	last := ""
	for {
		if err := c.do(ctx, "GET", "/v1/deployments/"+id, nil, &d); err != nil {
			return d, err
		}
		if line := progressLine(d); line != last {
			fmt.Fprintf(out, "    %s\n", line)
			last = line
		}
		if d.Status != api.StatusDeploying {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, &UserError{Msg: fmt.Sprintf("deployment %s is still %s after %s", id, d.Status, timeout),
				Hint: "watch it with `zeitwork status`"}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// progressLine summarises a deployment: which stage, how many instances
// are healthy.
func progressLine(d api.Deployment) string {
	if d.Status != api.StatusDeploying {
		return d.Status
	}
	counts := map[string]int{}
	total := 0
	reason := ""
	for _, in := range d.Instances {
		if in.Desired != "running" {
			continue
		}
		total++
		counts[in.State]++
		if in.State == api.InstanceStarting && in.Reason != "" {
			reason = in.Reason
		}
	}
	if total == 0 {
		if d.Reason != "" {
			return "waiting: " + d.Reason
		}
		return "resolving image"
	}
	parts := []string{fmt.Sprintf("%d/%d healthy", counts[api.InstanceHealthy], total)}
	for _, s := range []string{api.InstancePending, api.InstanceStarting, api.InstanceFailed} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	line := strings.Join(parts, ", ")
	if reason != "" {
		line += " (" + reason + ")"
	}
	return line
}
