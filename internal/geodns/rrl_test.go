package geodns_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// rrlConfig limits answers to 5 a second per /24 with a slip of 2, and
// exempts 127.0.3.0/24.
func rrlConfig(logOnly bool) func(*geodns.Config) {
	return func(c *geodns.Config) {
		slip := 2
		c.RRL = geodns.RRL{ResponsesPerSecond: 5, Window: geodns.Duration(5 * time.Second), Slip: &slip,
			Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.3.0/24")}, LogOnly: logOnly}
	}
}

// burstResult is what one client got back from a burst over UDP.
type burstResult struct {
	answered, slipped int // full answers with records; TC=1 replies without
}

// burst sends n queries for web.apps.test A at once over UDP from one
// socket bound to from, and reads replies until every query is
// accounted for: answered, slipped, or counted as dropped by the
// server's metrics; with every, until every query is replied to (an
// exempt network, log-only mode).
func burst(t *testing.T, s *server, from netip.Addr, n int, every bool) burstResult {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: from.AsSlice()}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dropped0 := droppedAll(t, s)
	var qlen int
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion("web.apps.test.", dns.TypeA)
		m.Id = uint16(i + 1)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		qlen = len(b)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	var r burstResult
	seen := map[uint16]bool{}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(15 * time.Second)
	for len(seen) < n && (every || len(seen)+int(droppedAll(t, s)-dropped0) < n) {
		if time.Now().After(deadline) {
			t.Fatalf("burst of %d: %d answered, %d slipped, %v dropped: replies missing", n, r.answered, r.slipped, droppedAll(t, s)-dropped0)
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, err := c.Read(buf)
		if err != nil {
			continue // nothing yet: look at the dropped count again
		}
		in := new(dns.Msg)
		if err := in.Unpack(buf[:k]); err != nil {
			t.Fatalf("reply does not unpack: %v", err)
		}
		if seen[in.Id] || in.Id == 0 || int(in.Id) > n {
			t.Fatalf("reply with id %d: not one query's, or twice", in.Id)
		}
		seen[in.Id] = true
		switch {
		case in.Truncated:
			if len(in.Answer)+len(in.Ns)+len(in.Extra) != 0 || k > qlen || len(in.Question) != 1 {
				t.Fatalf("slipped reply: %d records, %d bytes (query %d): want the question only, no larger than the query", len(in.Answer)+len(in.Ns)+len(in.Extra), k, qlen)
			}
			r.slipped++
		case len(addrs(in)) > 0:
			r.answered++
		default:
			t.Fatalf("reply neither answered nor truncated: %v", in)
		}
	}
	return r
}

func droppedAll(t *testing.T, s *server) float64 {
	return counter(t, s, "zeitwork_dns_rrl_dropped_total", "answer")
}

// TestRRL: a burst over UDP from one network beyond its rate gets the
// rate's answers, then drops with every second limited reply slipped
// (TC=1, no records); TCP from the same client is answered in full;
// another network and an exempt one are unaffected.
func TestRRL(t *testing.T) {
	s := start(t, rrlConfig(false))
	const n = 40
	client := netip.MustParseAddr("127.0.1.7")
	r := burst(t, s, client, n, false)
	limited := n - r.answered
	if r.answered < 5 || r.answered > 15 || limited == 0 {
		t.Fatalf("burst of %d at 5/s: %d answered: want about 5 (the rate), the rest limited", n, r.answered)
	}
	if r.slipped != limited/2 {
		t.Errorf("%d limited, %d slipped: want every 2nd slipped (%d)", limited, r.slipped, limited/2)
	}
	if got := counter(t, s, "zeitwork_dns_rrl_slipped_total", "answer"); got != float64(r.slipped) {
		t.Errorf("slipped metric %v, want %d", got, r.slipped)
	}
	if got := droppedAll(t, s); got != float64(limited-r.slipped) {
		t.Errorf("dropped metric %v, want %d", got, limited-r.slipped)
	}

	in := s.query(t, "tcp", client, "web.apps.test", dns.TypeA, nil)
	if in.Truncated || len(addrs(in)) != 1 || addrs(in)[0] != lbEU {
		t.Errorf("over TCP from the limited client: %v, want eu's load balancer in full", in)
	}
	in = s.query(t, "udp", netip.MustParseAddr("127.0.2.9"), "web.apps.test", dns.TypeA, nil)
	if in.Truncated || len(addrs(in)) != 1 || addrs(in)[0] != lbUS {
		t.Errorf("over UDP from another network: %v, want us's load balancer", in)
	}
	if r := burst(t, s, netip.MustParseAddr("127.0.3.4"), n, true); r.answered != n {
		t.Errorf("exempt network: %d of %d answered, %d slipped: want all answered", r.answered, n, r.slipped)
	}
}

// TestRRLLogOnly: in log-only mode a burst beyond the rate is answered
// in full, and what would have been limited is counted.
func TestRRLLogOnly(t *testing.T) {
	s := start(t, rrlConfig(true))
	const n = 40
	if r := burst(t, s, netip.MustParseAddr("127.0.1.8"), n, true); r.answered != n {
		t.Fatalf("log-only: %d of %d answered, %d slipped: want all answered", r.answered, n, r.slipped)
	}
	would := counter(t, s, "zeitwork_dns_rrl_dropped_total", "answer") + counter(t, s, "zeitwork_dns_rrl_slipped_total", "answer")
	if would < n-15 || would > n-5 {
		t.Fatalf("log-only: %v counted as limited, want about %d (all but the rate's 5)", would, n-5)
	}
}
