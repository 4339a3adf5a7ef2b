package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// scaleToZeroFlags are `projects update --scale-to-zero MODE --idle-timeout D`.
type scaleToZeroFlags struct {
	mode string
	idle time.Duration
}

func (f *scaleToZeroFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.mode, "scale-to-zero", "",
		"which deployments stop all instances when idle and start again on the next request: previews (the default), all or off")
	cmd.Flags().DurationVar(&f.idle, "idle-timeout", 0,
		"time without requests after which a deployment scales to zero, e.g. 5m (default 5m, at least 2s)")
}

// apply puts the flags that were given into *req.
func (f *scaleToZeroFlags) apply(cmd *cobra.Command, req **api.UpdateProjectRequest) error {
	mode, idle := cmd.Flags().Changed("scale-to-zero"), cmd.Flags().Changed("idle-timeout")
	if !mode && !idle {
		return nil
	}
	if *req == nil {
		*req = &api.UpdateProjectRequest{}
	}
	if mode {
		m := strings.ToLower(strings.TrimSpace(f.mode))
		if !api.ValidScaleToZero(m) {
			return &UserError{Msg: fmt.Sprintf("invalid --scale-to-zero %q", f.mode), Hint: "use previews, all or off"}
		}
		(*req).ScaleToZero = &m
	}
	if idle {
		if f.idle%time.Second != 0 || f.idle < api.MinIdleTimeout || f.idle > api.MaxIdleTimeout {
			return &UserError{Msg: fmt.Sprintf("invalid --idle-timeout %s", shortDuration(f.idle)),
				Hint: fmt.Sprintf("give whole seconds from %s to %s, e.g. 5m", shortDuration(api.MinIdleTimeout), shortDuration(api.MaxIdleTimeout))}
		}
		s := int(f.idle.Seconds())
		(*req).IdleTimeoutSeconds = &s
	}
	return nil
}

func (f *scaleToZeroFlags) set(req *api.UpdateProjectRequest) bool {
	return req.ScaleToZero != nil || req.IdleTimeoutSeconds != nil
}

func printScaleToZero(cmd *cobra.Command, p api.Project) {
	fmt.Fprintf(cmd.OutOrStdout(), "Project %s: %s\n", p.Name, scaleToZeroLabel(p))
}

// scaleToZeroLabel says which deployments of p scale to zero, and when.
func scaleToZeroLabel(p api.Project) string {
	idle := time.Duration(p.IdleTimeoutSeconds) * time.Second
	switch p.ScaleToZero {
	case api.ScaleToZeroAll:
		return fmt.Sprintf("every deployment scales to zero after %s without requests", shortDuration(idle))
	case api.ScaleToZeroOff:
		return "no deployment scales to zero"
	default:
		return fmt.Sprintf("preview deployments scale to zero after %s without requests; production keeps its minimum", shortDuration(idle))
	}
}

// statusLabel is a deployment's status, marked when it sleeps.
func statusLabel(d api.Deployment) string {
	if d.Asleep {
		return d.Status + " (asleep)"
	}
	return d.Status
}

// projectsShowCmd prints one project's settings.
func projectsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a project's settings",
		Args:  exactArgs(1, "give the project's name, e.g. `zeitwork projects show my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var p api.Project
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+args[0], nil, &p); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			live := p.LiveDeployment
			if live == "" {
				live = "none"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Project:        %s\nURL:            %s\nLive:           %s\n", p.Name, p.URL, live)
			fmt.Fprintf(w, "Instances:      %d per region (production), %d MiB, %d vCPU, port %d\n",
				p.MinInstancesPerRegion, p.MemoryMiB, p.VCPUs, p.Port)
			fmt.Fprintf(w, "Regions:        %s\n", regionsLabel(p.Regions))
			fmt.Fprintf(w, "Scale to zero:  %s\n", scaleToZeroLabel(p))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
