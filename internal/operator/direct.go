package operator

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// The direct transport (docs/design.md, "Direct transport"): nodes report
// where they publish each instance, the route table carries it, and the
// nodes learn which source addresses the edges use.

// checkDirectAddr accepts an empty direct address (not published) or an
// IPv4 host:port.
func checkDirectAddr(s string) error {
	if s == "" {
		return nil
	}
	if ap, err := netip.ParseAddrPort(s); err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return invalid("report direct_addr as IPv4 host:port, or leave it out", "invalid direct_addr %q", s)
	}
	return nil
}

// recordDirectAddr keeps the instance's direct address; a change moves
// the route table on (the instances trigger).
func (o *Operator) recordDirectAddr(ctx context.Context, id, nodeID uuid.UUID, addr string) error {
	_, err := o.store.SetInstanceDirectAddr(ctx, db.SetInstanceDirectAddrParams{
		ID: id, NodeID: uuid.NullUUID{UUID: nodeID, Valid: true}, DirectAddr: addr})
	return err
}

// recordEdgeDirectSource keeps the source address a polling edge with
// the direct transport reports (?direct_source=); an empty value means
// the address its poll came from. An edge that sends no parameter (the
// tunnel transport, or an older edge) is left as it is.
func (o *Operator) recordEdgeDirectSource(r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("direct_source") {
		return nil
	}
	src := q.Get("direct_source")
	if src == "" {
		src, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	a, err := netip.ParseAddr(src)
	if err != nil || !a.Unmap().Is4() || a.IsUnspecified() {
		return invalid("start the edge with --direct-source naming the IPv4 address its connections to nodes come from",
			"invalid edge direct source %q", src)
	}
	id := principalFrom(r.Context()).tokenID
	return o.store.ReportEdgeDirectSource(r.Context(), db.ReportEdgeDirectSourceParams{ID: id, DirectSource: a.Unmap().String()})
}

// directEdges are the source addresses nodes admit to their direct ports.
func (o *Operator) directEdges(ctx context.Context, out *api.DesiredState) error {
	srcs, err := o.store.ListDirectEdgeSources(ctx)
	if err != nil {
		return err
	}
	out.DirectEdges = srcs
	return nil
}

// edgeDirectSources maps each edge to its recorded direct source.
func (o *Operator) edgeDirectSources(ctx context.Context) (map[uuid.UUID]string, error) {
	rows, err := o.store.ListEdgeDirectSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.DirectSource
	}
	return out, nil
}
