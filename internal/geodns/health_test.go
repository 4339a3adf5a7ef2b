package geodns_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// answerFrom is the A answer for a client at from.
func (s *server) answerFrom(t *testing.T, from string) []netip.Addr {
	t.Helper()
	return addrs(s.query(t, "udp", netip.MustParseAddr(from), "web.apps.test", dns.TypeA, nil))
}

// eventually polls until the answer for from is want, within TTL plus
// a few health intervals (with room for a loaded machine).
func (s *server) eventually(t *testing.T, from string, want netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.answerFrom(t, from)
		if slices.Equal(got, []netip.Addr{want}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s gets %v, want %v", from, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRegionDown: a region whose load balancer fails its health check
// leaves the answers and its clients get the next nearest region (eu ->
// us by distance; ap -> us by its preference); when it is back, they
// get it again. With every region down, answers fail open.
func TestRegionDown(t *testing.T) {
	s := start(t)
	s.eventually(t, "127.0.3.1", lbAP)
	s.lbs[lbAP].Close()
	s.eventually(t, "127.0.3.1", lbUS) // by preference: eu is nearer
	if got := s.answerFrom(t, "127.0.1.1"); !slices.Equal(got, []netip.Addr{lbEU}) {
		t.Fatalf("eu client gets %v while only ap is down", got)
	}
	s.lbs[lbEU].Close()
	s.eventually(t, "127.0.1.1", lbUS)
	// By coordinates (ECS, GeoIP): Frankfurt's nearest healthy is us.
	if got := addrs(s.query(t, "udp", netip.Addr{}, "web.apps.test", dns.TypeA, subnet("198.51.100.0/24"))); !slices.Equal(got, []netip.Addr{lbUS}) {
		t.Fatalf("Frankfurt client gets %v with eu down, want us", got)
	}
	s.lbs[lbUS].Close()
	// All down: each client gets its own region's load balancers.
	s.eventually(t, "127.0.1.1", lbEU)
	s.eventually(t, "127.0.3.1", lbAP)
}

// TestRegionBack: a load balancer that answers again is back in the
// answers.
func TestRegionBack(t *testing.T) {
	s := start(t)
	addr := s.lbs[lbEU].Addr().String()
	s.lbs[lbEU].Close()
	s.eventually(t, "127.0.1.1", lbUS)
	s.relisten(t, addr)
	s.eventually(t, "127.0.1.1", lbEU)
}
