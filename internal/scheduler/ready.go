package scheduler

// Ready reports whether a deployment serves as planned: in each of its
// regions at least its minimum of healthy instances on ready nodes, or, in
// a region that plan reports short, as many as the region can hold; and at
// least one healthy instance in all. Regions short of capacity or nodes
// thus do not hold a deployment back forever: they are reported instead
// (Plan.Shortfalls).
func Ready(s State, plan Plan, deploymentID string) bool {
	var dep *Deployment
	for i := range s.Deployments {
		if s.Deployments[i].ID == deploymentID {
			dep = &s.Deployments[i]
		}
	}
	if dep == nil {
		return false
	}
	ready := map[string]bool{}
	var regions []string
	seen := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Ready {
			ready[n.ID] = true
			if !seen[n.Region] {
				seen[n.Region] = true
				regions = append(regions, n.Region)
			}
		}
	}
	if len(dep.Regions) > 0 {
		regions = dep.Regions
	}
	healthy := map[string]int{}
	total := 0
	for _, in := range s.Instances {
		if in.DeploymentID == deploymentID && in.Running && in.Healthy && !in.Retiring && ready[in.NodeID] {
			healthy[in.Region]++
			total++
		}
	}
	short := map[string]int{}
	for _, sf := range plan.Shortfalls {
		if sf.DeploymentID == deploymentID {
			short[sf.Region] = sf.Have
		}
	}
	for _, r := range regions {
		need := max(dep.MinPerRegion, 1)
		if have, ok := short[r]; ok {
			need = have
		}
		if healthy[r] < need {
			return false
		}
	}
	return total > 0
}
