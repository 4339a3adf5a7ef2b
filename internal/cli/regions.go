package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// regionsFlag is `projects update --regions a,b|all`.
type regionsFlag struct{ list []string }

func (r *regionsFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&r.list, "regions", nil,
		"`REGIONS` the project runs in, comma-separated (e.g. eu,us-east), or all (the default); 'zeitwork nodes list' shows the regions")
}

// apply puts the regions into *req when the flag was given.
func (r *regionsFlag) apply(cmd *cobra.Command, req **api.UpdateProjectRequest) {
	if !cmd.Flags().Changed("regions") {
		return
	}
	if *req == nil {
		*req = &api.UpdateProjectRequest{}
	}
	list := []string{}
	for _, s := range r.list {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	(*req).Regions = &list
}

func printRegions(cmd *cobra.Command, p api.Project) {
	fmt.Fprintf(cmd.OutOrStdout(), "Project %s runs in %s\n", p.Name, regionsLabel(p.Regions))
}

// regionsLabel says where a project runs.
func regionsLabel(regions []string) string {
	if len(regions) == 0 {
		return "all regions"
	}
	return "regions " + strings.Join(regions, ", ")
}

// warnRegionsWithoutNodes warns (on stderr; the change stands) about each
// of regions no node is in: most likely a misspelling, which would leave
// the project with nowhere to run. It names the known regions. Where the
// nodes cannot be read (a token without access) it says nothing.
func warnRegionsWithoutNodes(cmd *cobra.Command, c *client, regions []string) {
	if len(regions) == 0 {
		return
	}
	var nodes []api.Node
	if err := c.do(cmd.Context(), "GET", "/v1/nodes", nil, &nodes); err != nil {
		return
	}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Region] = true
	}
	var missing []string
	for _, r := range regions {
		if !known[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(known))
	have := "none: no node is enrolled yet"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Warning: no node is in region %s; instances there cannot start until one joins. Known regions: %s\n",
		strings.Join(missing, ", "), have)
}
