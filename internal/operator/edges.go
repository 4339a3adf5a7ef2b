package operator

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

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
	direct, err := o.edgeDirectSources(r.Context())
	if err != nil {
		return err
	}
	out := []api.Edge{}
	for _, e := range rows {
		out = append(out, api.Edge{ID: e.ID.String(), Hostname: edgeHost(e.Hostname, e.Name), Region: e.Region,
			RegionKnown: known[e.Region], EnrolledAt: e.CreatedAt.UTC(), LastSeenAt: e.LastUsedAt, RemovedAt: e.RevokedAt,
			DirectSource: direct[e.ID]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeEdge is DELETE /v1/edges/{edge} ({edge} is an id, a prefix of
// one, or a hostname): the edge's token is revoked, so its next request
// is refused and its long-polls end, and its certificate is listed as
// revoked in every node's desired state, whose long-polls the token's
// change wakes. Removing a removed edge answers as the first time did.
func (o *Operator) removeEdge(w http.ResponseWriter, r *http.Request) error {
	e, err := o.findEdge(r, r.PathValue("edge"))
	if err != nil {
		return err
	}
	at, err := o.store.RemoveEdge(r.Context(), e.ID)
	if err != nil {
		return err
	}
	out := api.RemovedEdge{ID: e.ID.String(), Hostname: edgeHost(e.Hostname, e.Name), RemovedAt: at.UTC()}
	o.log.Warn("edge removed; its token and certificate are refused", "edge", out.ID, "hostname", out.Hostname)
	auditFrom(r.Context()).setObject("edge", out.ID)
	o.hub.Bump()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// findEdge finds the one edge ref names (id, id prefix, or hostname),
// removed ones included.
func (o *Operator) findEdge(r *http.Request, ref string) (db.FindEdgesRow, error) {
	prefix := refPrefix(ref)
	edges, err := o.store.FindEdges(r.Context(), db.FindEdgesParams{Prefix: prefix, Name: ref})
	if err != nil {
		return db.FindEdgesRow{}, err
	}
	return pickRef(edges, func(e db.FindEdgesRow) uuid.UUID { return e.ID }, prefix, ref, "edge", "zeitwork nodes edges")
}

// edgeHost is an edge's hostname, or for one enrolled before the edges
// table, what its token's name says.
func edgeHost(hostname, tokenName string) string {
	if hostname != "" {
		return hostname
	}
	return strings.TrimPrefix(tokenName, "edge ")
}

// revokedEdges are the edges whose certificates nodes must refuse: every
// edge removed within a certificate's lifetime (an older one's
// certificate has expired on its own).
func (o *Operator) revokedEdges(ctx context.Context) ([]string, error) {
	ids, err := o.store.ListRevokedEdges(ctx, time.Now().Add(-hostCertTTL))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out, nil
}
