package geodns

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkAnswer is one located A answer with an ECS option, without
// the network: the handler's own cost per query.
func BenchmarkAnswer(b *testing.B) {
	h, err := New(Config{
		Zone: "apps.test", Nameservers: []Nameserver{{Name: "ns1.example.net"}},
		Regions: []Region{
			{Name: "eu", Latitude: 50, Longitude: 8, LoadBalancers: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}},
			{Name: "us", Latitude: 40, Longitude: -74, LoadBalancers: []netip.Addr{netip.MustParseAddr("192.0.2.3")}},
		},
		Networks: map[string]string{"198.51.100.0/24": "us", "203.0.113.0/24": "eu"},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	req := new(dns.Msg)
	req.SetQuestion("web.apps.test.", dns.TypeA)
	req.SetEdns0(1232, false)
	req.IsEdns0().Option = append(req.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: netip.MustParseAddr("198.51.100.0").AsSlice()})
	src := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		resp := h.Answer(req, src)
		if _, err := resp.Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRRL is response rate limiting's cost per UDP response (the
// limiter's decision), beside BenchmarkAnswer's: one resolver's network
// (its bucket hot), a new spoofed network every query (the table
// evicting), and both from every core at once.
func BenchmarkRRL(b *testing.B) {
	cfg := RRL{ResponsesPerSecond: 1 << 30}
	cfg.defaults()
	one := netip.MustParseAddr("198.51.100.7")
	b.Run("one-network", func(b *testing.B) {
		l := newLimiter(cfg)
		b.ReportAllocs()
		for b.Loop() {
			l.decide(one, kindAnswer)
		}
	})
	b.Run("spoofed-sources", func(b *testing.B) {
		l := newLimiter(cfg)
		b.ReportAllocs()
		var i uint32
		for b.Loop() {
			i++
			l.decide(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1}), kindAnswer)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := newLimiter(cfg)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var i uint32
			for pb.Next() {
				i++
				l.decide(netip.AddrFrom4([4]byte{198, 51, byte(i % 64), 1}), kindAnswer)
			}
		})
	})
}
