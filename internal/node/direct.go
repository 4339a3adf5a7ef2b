package node

import (
	"context"
	"net/netip"
	"time"

	"github.com/zeitwork/zeitwork/internal/node/network"
)

// Publisher is the direct transport (network.Direct): it publishes
// instances' app ports to the cluster's edges on the node's direct
// address, by DNAT in the kernel, so that edges with --node-transport
// direct reach apps without the tunnel (docs/design.md, "Direct
// transport").
type Publisher interface {
	Publish(ctx context.Context, instanceID string, target netip.AddrPort, reuse uint16) (netip.AddrPort, error)
	Unpublish(ctx context.Context, instanceID string) error
	SetEdges(ctx context.Context, addrs []netip.Addr) error
}

var _ Publisher = (*network.Direct)(nil)

// publish makes the healthy instance reachable on the direct address and
// keeps the port in its record, so that an agent restart gives the
// adopted VM the same port (edges' route tables keep working). A failure
// leaves the instance to the tunnel: it is reported without a direct
// address.
func (s *supervisor) publish() {
	p := s.a.cfg.Direct
	if p == nil {
		return
	}
	vm, err := netip.ParseAddr(s.rec.Address)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	at, err := p.Publish(ctx, s.rec.Desired.ID, netip.AddrPortFrom(vm, uint16(s.rec.Desired.Port)), s.rec.DirectPort)
	if err != nil {
		s.log.Warn("publish on the direct address; edges use the tunnel", "err", err)
		return
	}
	s.mu.Lock()
	s.directAddr = at.String()
	s.mu.Unlock()
	if s.rec.DirectPort != at.Port() {
		s.rec.DirectPort = at.Port()
		s.saveRecord()
	}
}

// unpublish frees the instance's direct port (and cuts its flows) before
// its VM and address go.
func (s *supervisor) unpublish() {
	p := s.a.cfg.Direct
	if p == nil {
		return
	}
	s.mu.Lock()
	s.directAddr = ""
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if err := p.Unpublish(ctx, s.rec.Desired.ID); err != nil {
		s.log.Warn("unpublish from the direct address", "err", err)
	}
}

// setDirectEdges admits the edges the operator lists (their source
// addresses) to the direct ports; an edge no longer listed loses its
// open connections too.
func (a *Agent) setDirectEdges(ctx context.Context, srcs []string) {
	if a.cfg.Direct == nil {
		return
	}
	addrs := make([]netip.Addr, 0, len(srcs))
	for _, s := range srcs {
		ad, err := netip.ParseAddr(s)
		if err != nil || !ad.Is4() {
			a.log.Warn("direct transport: ignoring an edge source that is no IPv4 address", "source", s)
			continue
		}
		addrs = append(addrs, ad)
	}
	if err := a.cfg.Direct.SetEdges(ctx, addrs); err != nil {
		a.log.Warn("direct transport: set edges", "err", err)
	}
}
