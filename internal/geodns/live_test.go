package geodns_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// A reload answers from the new configuration at once; one that does
// not load leaves the running one answering.
func TestLiveReload(t *testing.T) {
	cfg := testConfig(0, writeGeoDB(t))
	port, _ := lbListeners(t, lbEU, lbUS, lbAP)
	cfg.Health.Port = port
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := geodns.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := h.Register(reg); err != nil {
		t.Fatal(err)
	}
	live := geodns.NewLive(h, log)
	t.Cleanup(func() { live.Handler().Close() })
	udp, tcp := listenPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { live.Run(ctx); done <- struct{}{} }()
	go func() { geodns.Serve(ctx, live, udp, tcp); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	s := &server{addr: udp.LocalAddr().String(), lbs: nil, reg: reg}
	s.waitReady(t)

	eu := netip.MustParseAddr("127.0.1.9") // Networks: eu
	answer := func() []netip.Addr { return addrs(s.query(t, "udp", eu, "web.apps.test", dns.TypeA, nil)) }
	if got := answer(); !slices.Equal(got, []netip.Addr{lbEU}) {
		t.Fatalf("before the reload: %v", got)
	}
	next := cfg
	next.Regions = slices.Clone(cfg.Regions)
	next.Regions[0].LoadBalancers = []netip.Addr{lbUS} // eu's balancer moved
	if err := live.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := answer(); !slices.Equal(got, []netip.Addr{lbUS}) {
		t.Fatalf("after the reload: %v, want %v", got, lbUS)
	}
	bad := next
	bad.Regions = nil
	if err := live.Reload(bad); err == nil {
		t.Fatal("a configuration without regions was put in force")
	}
	if got := answer(); !slices.Equal(got, []netip.Addr{lbUS}) {
		t.Fatalf("after a refused reload: %v", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("metrics after reloads: %v", err)
	}
}
