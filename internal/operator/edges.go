package operator

import (
	"net/http"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// checkEdgeRegion accepts an edge without a region or with a well-formed
// one. A region no node has registered in is accepted: regions come into
// being with their first node, and an edge may be set up before it. The
// edge warns instead (it sees the known regions in its route table), and
// `zeitwork nodes edges` shows it.
func checkEdgeRegion(region string) error {
	if region != "" && !validRegion.MatchString(region) {
		return invalid("start the edge with --region naming a region as its nodes do (lowercase letters, digits and dashes, e.g. eu-west), or without --region",
			"invalid edge region %q", region)
	}
	return nil
}

// recordEdgeRegion keeps the region a polling edge reports (its
// ?region=), so that the listing shows edges enrolled before regions
// were recorded, and an edge restarted with another --region.
func (o *Operator) recordEdgeRegion(r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("region") {
		return nil // an edge older than the parameter
	}
	region := q.Get("region")
	if err := checkEdgeRegion(region); err != nil {
		return err
	}
	id := principalFrom(r.Context()).tokenID
	return o.store.ReportEdgeRegion(r.Context(), db.ReportEdgeRegionParams{ID: id, Region: region})
}

// listEdges is GET /v1/edges: every enrolled edge with its region.
func (o *Operator) listEdges(w http.ResponseWriter, r *http.Request) error {
	rows, err := o.store.ListEdges(r.Context())
	if err != nil {
		return err
	}
	regions, err := o.store.ListRegions(r.Context())
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, rg := range regions {
		known[rg.ID] = true
	}
	out := []api.Edge{}
	for _, e := range rows {
		host := e.Hostname
		if host == "" {
			host = strings.TrimPrefix(e.Name, "edge ") // enrolled before the edges table
		}
		out = append(out, api.Edge{ID: e.ID.String(), Hostname: host, Region: e.Region, RegionKnown: known[e.Region],
			EnrolledAt: e.CreatedAt.UTC(), LastSeenAt: e.LastUsedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
