package edge

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// regionName is a region's name as node agents register it (a DNS label).
var regionName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// CheckRegion refuses a --region no node could ever register under, so
// that a typo such as "EU" or "eu west" stops the edge at once.
func CheckRegion(region string) error {
	if region != "" && !regionName.MatchString(region) {
		return fmt.Errorf("invalid --region %q: name a region as its nodes do (lowercase letters, digits and dashes, e.g. eu-west), or leave it out for no preference", region)
	}
	return nil
}

// checkKnownRegion warns, once per set of known regions, when the edge's
// region is none that a node registered in: likely misspelt, and until a
// node registers in it the edge prefers no region. Regions come into
// being with their first node, so an edge set up before its region's
// nodes is not refused. Called under e.mu.
func (e *Edge) checkKnownRegion(known []string) {
	if e.cfg.Region == "" || known == nil { // nil: an operator that does not send them
		return
	}
	if slices.Contains(known, e.cfg.Region) {
		e.regionWarned = ""
		return
	}
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none yet"
	}
	if e.regionWarned == list {
		return
	}
	e.regionWarned = list
	e.log.Warn(fmt.Sprintf("edge: no node is in region %q (known regions: %s): it is likely misspelt, and this edge prefers no region until a node registers in it; check --region or `zeitwork nodes list`",
		e.cfg.Region, list), "region", e.cfg.Region, "known_regions", known)
}
