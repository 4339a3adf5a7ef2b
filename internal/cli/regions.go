package cli

import (
	"fmt"
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
