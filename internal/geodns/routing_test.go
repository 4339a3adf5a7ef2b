package geodns_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// TestNearestRegion: a query from each region's clients, located by the
// resolver's address (CIDR table) or by ECS (GeoIP database), over UDP
// and TCP, answers that region's load balancer.
func TestNearestRegion(t *testing.T) {
	s := start(t)
	tests := []struct {
		name  string
		from  string // local address (CIDR table)
		ecs   string // client subnet (GeoIP database)
		want  netip.Addr
		scope uint8
	}{
		{name: "eu by source", from: "127.0.1.7", want: lbEU},
		{name: "us by source", from: "127.0.2.7", want: lbUS},
		{name: "ap by source", from: "127.0.3.7", want: lbAP},
		{name: "eu by ecs", from: "127.0.3.7", ecs: "198.51.100.0/24", want: lbEU, scope: 24},
		{name: "us by ecs", from: "127.0.1.7", ecs: "203.0.113.0/24", want: lbUS, scope: 24},
		{name: "ap by ecs", from: "127.0.1.7", ecs: "192.0.2.0/24", want: lbAP, scope: 24},
		{name: "ipv6 ecs", from: "127.0.3.7", ecs: "2001:db8:1::/56", want: lbEU, scope: 48},
		{name: "country without coordinates", from: "127.0.3.7", ecs: "100.64.5.0/24", want: lbEU, scope: 16},
		{name: "table by ecs", from: "127.0.1.7", ecs: "127.0.3.0/24", want: lbAP, scope: 24},
	}
	for _, tc := range tests {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				var ecs *dns.EDNS0_SUBNET
				if tc.ecs != "" {
					ecs = subnet(tc.ecs)
				}
				in := s.query(t, proto, netip.MustParseAddr(tc.from), "web.apps.test", dns.TypeA, ecs)
				if in.Rcode != dns.RcodeSuccess || !in.Authoritative {
					t.Fatalf("rcode %s aa %v: want an authoritative answer", dns.RcodeToString[in.Rcode], in.Authoritative)
				}
				if got := addrs(in); !slices.Equal(got, []netip.Addr{tc.want}) {
					t.Fatalf("answer %v, want %v", got, tc.want)
				}
				if in.Answer[0].Header().Ttl != 5 {
					t.Fatalf("ttl %d, want the configured 5", in.Answer[0].Header().Ttl)
				}
				e := echoed(in)
				if tc.ecs == "" {
					if e != nil {
						t.Fatalf("ecs %v in an answer to a query without one", e)
					}
					return
				}
				if e == nil || e.SourceScope != tc.scope || e.SourceNetmask != ecs.SourceNetmask || !netip.MustParseAddr(e.Address.String()).Unmap().IsValid() {
					t.Fatalf("echoed ecs %v, want the query's with scope %d", e, tc.scope)
				}
			})
		}
	}
}

// TestCNAMETarget: the name custom domains point at answers like the
// apps zone, and is a zone of its own (SOA, NXDOMAIN below it).
func TestCNAMETarget(t *testing.T) {
	s := start(t)
	in := s.query(t, "udp", netip.MustParseAddr("127.0.2.9"), "edge.example.net", dns.TypeA, nil)
	if got := addrs(in); !slices.Equal(got, []netip.Addr{lbUS}) || !in.Authoritative {
		t.Fatalf("edge.example.net: %v aa %v, want us's load balancer", got, in.Authoritative)
	}
	in = s.query(t, "udp", netip.Addr{}, "edge.example.net", dns.TypeSOA, nil)
	if len(in.Answer) != 1 || in.Answer[0].Header().Name != "edge.example.net." {
		t.Fatalf("SOA of the target zone: %v", in.Answer)
	}
	in = s.query(t, "udp", netip.Addr{}, "x.edge.example.net", dns.TypeA, nil)
	if in.Rcode != dns.RcodeNameError {
		t.Fatalf("x.edge.example.net: %s, want NXDOMAIN", dns.RcodeToString[in.Rcode])
	}
}

// TestBadClientSubnet: an ECS option with address bits past its source
// prefix is answered with FORMERR (RFC 7871, 7.1.1). miekg/dns masks the
// address when it packs, so the bit is set in the wire bytes.
func TestBadClientSubnet(t *testing.T) {
	s := start(t)
	m := new(dns.Msg)
	m.SetQuestion("web.apps.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, subnet("198.51.96.0/20"))
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	wire[len(wire)-1] |= 1 // the option ends the message: last address byte
	c, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	in := new(dns.Msg)
	if err := in.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if in.Rcode != dns.RcodeFormatError {
		t.Fatalf("rcode %s, want FORMERR", dns.RcodeToString[in.Rcode])
	}
}

// TestIPv6LoadBalancers: AAAA answers give a region's IPv6 load
// balancers; a region with none answers NODATA (the client uses A).
func TestIPv6LoadBalancers(t *testing.T) {
	v6 := netip.MustParseAddr("::1")
	s := start(t, func(c *geodns.Config) { c.Regions[0].LoadBalancers = append(c.Regions[0].LoadBalancers, v6) })
	in := s.query(t, "tcp", netip.MustParseAddr("127.0.1.4"), "web.apps.test", dns.TypeAAAA, nil)
	if got := addrs(in); !slices.Equal(got, []netip.Addr{v6}) {
		t.Fatalf("AAAA for eu: %v, want ::1", got)
	}
	in = s.query(t, "udp", netip.MustParseAddr("127.0.1.4"), "web.apps.test", dns.TypeA, nil)
	if got := addrs(in); !slices.Equal(got, []netip.Addr{lbEU}) {
		t.Fatalf("A for eu: %v, want only the IPv4 load balancer", got)
	}
	in = s.query(t, "udp", netip.MustParseAddr("127.0.2.4"), "web.apps.test", dns.TypeAAAA, nil)
	if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 || len(in.Ns) != 1 {
		t.Fatalf("AAAA for us (no IPv6 load balancer): %v, want NODATA", in)
	}
}
