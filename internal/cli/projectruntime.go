package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// runtimeFlags are `projects update --port --health-path --memory --vcpus
// --min-instances`, named as `projects create` names them.
type runtimeFlags struct {
	port, memory, vcpus, minInstances int
	healthPath                        string
}

func (f *runtimeFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.port, "port", 0, "port the app listens on (PORT is set to it), for instances started from now on")
	fl.StringVar(&f.healthPath, "health-path", "", "HTTP path that must answer 2xx/3xx (\"\": a TCP check of the port)")
	fl.IntVar(&f.memory, "memory", 0, "guest memory per instance in MiB, for instances started from now on")
	fl.IntVar(&f.vcpus, "vcpus", 0, "virtual CPUs per instance, for instances started from now on")
	fl.IntVar(&f.minInstances, "min-instances", 0, "instances per region of the live deployment (applies at once)")
}

// apply puts the flags that were given into *req.
func (f *runtimeFlags) apply(cmd *cobra.Command, req **api.UpdateProjectRequest) {
	ints := map[string]struct {
		v   int
		dst func(*api.UpdateProjectRequest, *int)
	}{
		"port":          {f.port, func(r *api.UpdateProjectRequest, v *int) { r.Port = v }},
		"memory":        {f.memory, func(r *api.UpdateProjectRequest, v *int) { r.MemoryMiB = v }},
		"vcpus":         {f.vcpus, func(r *api.UpdateProjectRequest, v *int) { r.VCPUs = v }},
		"min-instances": {f.minInstances, func(r *api.UpdateProjectRequest, v *int) { r.MinInstancesPerRegion = v }},
	}
	for name, x := range ints {
		if cmd.Flags().Changed(name) {
			if *req == nil {
				*req = &api.UpdateProjectRequest{}
			}
			v := x.v
			x.dst(*req, &v)
		}
	}
	if cmd.Flags().Changed("health-path") {
		if *req == nil {
			*req = &api.UpdateProjectRequest{}
		}
		h := f.healthPath
		(*req).HealthPath = &h
	}
}

func (f *runtimeFlags) set(req *api.UpdateProjectRequest) bool {
	return req.Port != nil || req.HealthPath != nil || req.MemoryMiB != nil || req.VCPUs != nil || req.MinInstancesPerRegion != nil
}

func printRuntime(cmd *cobra.Command, p api.Project) {
	health := "TCP connection to the port"
	if p.HealthPath != "" {
		health = "HTTP GET " + p.HealthPath
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Project %s: port %d, health check %s, %d vCPU, %d MiB, %d instances per region\n",
		p.Name, p.Port, health, p.VCPUs, p.MemoryMiB, p.MinInstancesPerRegion)
	fmt.Fprintln(cmd.OutOrStdout(), "Port, health check and size apply to instances started from now on: deploy again to apply them to every instance.")
}
