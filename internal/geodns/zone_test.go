package geodns_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/zeitwork/zeitwork/internal/geodns"
)

// TestZoneAnswers: SOA, NS with glue, NXDOMAIN and NODATA with the SOA
// in authority at the negative TTL, REFUSED outside our zones.
func TestZoneAnswers(t *testing.T) {
	s := start(t)
	any := netip.Addr{}
	negative := func(t *testing.T, in *dns.Msg) {
		t.Helper()
		if len(in.Ns) != 1 {
			t.Fatalf("authority %v: want the SOA", in.Ns)
		}
		soa, ok := in.Ns[0].(*dns.SOA)
		if !ok || soa.Hdr.Name != "apps.test." || soa.Hdr.Ttl != 30 || soa.Minttl != 30 {
			t.Fatalf("authority %v: want apps.test's SOA with TTL 30 (the negative TTL)", in.Ns[0])
		}
	}
	t.Run("soa", func(t *testing.T) {
		in := s.query(t, "udp", any, "APPS.test", dns.TypeSOA, nil)
		soa, ok := in.Answer[0].(*dns.SOA)
		if !ok || !in.Authoritative || soa.Ns != "ns1.apps.test." || soa.Mbox != "hostmaster.apps.test." || soa.Hdr.Ttl != 3600 {
			t.Fatalf("SOA answer %v", in.Answer)
		}
	})
	t.Run("ns with glue", func(t *testing.T) {
		in := s.query(t, "tcp", any, "apps.test", dns.TypeNS, nil)
		var names []string
		for _, rr := range in.Answer {
			names = append(names, rr.(*dns.NS).Ns)
		}
		if !slices.Equal(names, []string{"ns1.apps.test.", "ns2.example.net."}) {
			t.Fatalf("NS %v", names)
		}
		if len(in.Extra) != 1 || in.Extra[0].(*dns.A).A.String() != "127.0.0.53" {
			t.Fatalf("glue %v, want ns1.apps.test's address", in.Extra)
		}
		in = s.query(t, "udp", any, "ns1.apps.test", dns.TypeA, nil)
		if got := addrs(in); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("127.0.0.53")}) {
			t.Fatalf("ns1.apps.test: %v, want its own address, not a load balancer", got)
		}
	})
	t.Run("nxdomain", func(t *testing.T) {
		in := s.query(t, "udp", any, "a.b.apps.test", dns.TypeA, nil)
		if in.Rcode != dns.RcodeNameError || !in.Authoritative || len(in.Answer) != 0 {
			t.Fatalf("a.b.apps.test: %s aa %v: want NXDOMAIN", dns.RcodeToString[in.Rcode], in.Authoritative)
		}
		negative(t, in)
	})
	for _, qt := range []uint16{dns.TypeMX, dns.TypeTXT, dns.TypeCNAME, dns.TypeNS, dns.TypeAAAA} {
		t.Run("nodata "+dns.TypeToString[qt], func(t *testing.T) {
			in := s.query(t, "udp", any, "web.apps.test", qt, nil)
			if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 || !in.Authoritative {
				t.Fatalf("%s web.apps.test: %s %v: want NODATA", dns.TypeToString[qt], dns.RcodeToString[in.Rcode], in.Answer)
			}
			negative(t, in)
		})
	}
	for _, name := range []string{"example.com", "test", "apps.test.evil", "xapps.test"} {
		t.Run("refused "+name, func(t *testing.T) {
			in := s.query(t, "udp", any, name, dns.TypeA, nil)
			if in.Rcode != dns.RcodeRefused || in.Authoritative || len(in.Answer)+len(in.Ns) != 0 {
				t.Fatalf("%s: %s aa %v: want REFUSED and nothing else", name, dns.RcodeToString[in.Rcode], in.Authoritative)
			}
		})
	}
	t.Run("apex has the load balancers", func(t *testing.T) {
		in := s.query(t, "udp", netip.MustParseAddr("127.0.2.1"), "apps.test", dns.TypeA, nil)
		if got := addrs(in); !slices.Equal(got, []netip.Addr{lbUS}) {
			t.Fatalf("apps.test A: %v", got)
		}
	})
	t.Run("bad edns version", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("web.apps.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		in := s.exchange(t, "udp", any, m)
		if in.Rcode != dns.RcodeBadVers {
			t.Fatalf("rcode %s, want BADVERS", dns.RcodeToString[in.Rcode])
		}
	})
}

// TestTruncation: an answer larger than the client's UDP size is
// truncated (TC) over UDP and whole over TCP.
func TestTruncation(t *testing.T) {
	var many []netip.Addr
	for i := 1; i <= 60; i++ {
		many = append(many, netip.AddrFrom4([4]byte{127, 0, 9, byte(i)}))
	}
	s := start(t, func(c *geodns.Config) {
		c.Regions[0].LoadBalancers = append(c.Regions[0].LoadBalancers, many...)
	})
	from := netip.MustParseAddr("127.0.1.1")
	udp := s.query(t, "udp", from, "web.apps.test", dns.TypeA, nil)
	if !udp.Truncated || len(udp.Answer) >= len(many) {
		t.Fatalf("UDP answer of %d records, TC %v: want it truncated to 512 bytes", len(udp.Answer), udp.Truncated)
	}
	tcp := s.query(t, "tcp", from, "web.apps.test", dns.TypeA, nil)
	if tcp.Truncated || len(tcp.Answer) != len(many)+1 {
		t.Fatalf("TCP answer of %d records, TC %v: want all %d", len(tcp.Answer), tcp.Truncated, len(many)+1)
	}
	big := s.query(t, "udp", from, "web.apps.test", dns.TypeA, subnet("127.0.1.0/24"))
	if big.Truncated || len(big.Answer) != len(many)+1 {
		t.Fatalf("UDP answer with EDNS (1232 bytes): %d records, TC %v: want all", len(big.Answer), big.Truncated)
	}
}
