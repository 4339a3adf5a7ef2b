package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// fakePublisher records what the agent publishes, as network.Direct
// would apply it.
type fakePublisher struct {
	mu        sync.Mutex
	published map[string]netip.AddrPort // instance -> target
	reuse     []uint16
	edges     []netip.Addr
}

func (p *fakePublisher) Publish(_ context.Context, id string, target netip.AddrPort, reuse uint16) (netip.AddrPort, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published[id] = target
	p.reuse = append(p.reuse, reuse)
	return netip.MustParseAddrPort("10.0.0.9:20000"), nil
}

func (p *fakePublisher) Unpublish(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.published, id)
	return nil
}

func (p *fakePublisher) SetEdges(_ context.Context, addrs []netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.edges = addrs
	return nil
}

func (p *fakePublisher) target(id string) (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.published[id]
	return t, ok
}

// TestSupervisorPublishesDirect: with the direct transport, a healthy
// instance's app port is published and its healthy report names the
// direct address; the port is kept in its record (for an agent restart);
// a stopped instance is unpublished and its stop report names none.
func TestSupervisorPublishesDirect(t *testing.T) {
	h := newHarness(t, boots)
	a := h.agent(t)
	pub := &fakePublisher{published: map[string]netip.AddrPort{}}
	a.cfg.Direct = pub
	d := h.desired()
	s, _ := start(t, a, d)
	waitUntil(t, 10*time.Second, "a healthy report", func() bool { return h.op.count(api.InstanceHealthy) == 1 })
	rep, _ := h.op.find(api.InstanceHealthy)
	if rep.DirectAddr != "10.0.0.9:20000" {
		t.Fatalf("healthy report's direct address %q, want 10.0.0.9:20000", rep.DirectAddr)
	}
	if got, ok := pub.target(d.ID); !ok || got.String() != fmt.Sprintf("127.0.0.1:%d", h.port) {
		t.Fatalf("published target %v %v, want the vm's app port", got, ok)
	}
	if recs, err := a.records.load(); err != nil || recs[d.ID].DirectPort != 20000 {
		t.Fatalf("record keeps direct port %d (%v), want 20000", recs[d.ID].DirectPort, err)
	}
	s.stop()
	waitUntil(t, 5*time.Second, "a stopped report", func() bool { return h.op.count(api.InstanceStopped) == 1 })
	if _, ok := pub.target(d.ID); ok {
		t.Error("a stopped instance is still published")
	}
	if rep, _ := h.op.find(api.InstanceStopped); rep.DirectAddr != "" {
		t.Errorf("stop report names direct address %q", rep.DirectAddr)
	}

	a.setDirectEdges(context.Background(), []string{"10.9.0.5", "not-an-address", "::1", "10.9.0.6"})
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if want := []netip.Addr{netip.MustParseAddr("10.9.0.5"), netip.MustParseAddr("10.9.0.6")}; !slices.Equal(pub.edges, want) {
		t.Errorf("edges admitted %v, want %v", pub.edges, want)
	}
}
