package geodns

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer: any message that unpacks gets an answer that packs, with
// the query's ID, within the UDP size after truncation, and never an
// answer outside our zones.
func FuzzAnswer(f *testing.F) {
	cfg := Config{
		Zone: "apps.test", Targets: []string{"edge.example.net"},
		Nameservers: []Nameserver{{Name: "ns1.apps.test", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}},
		Regions: []Region{
			{Name: "eu", Latitude: 50, Longitude: 8, LoadBalancers: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}},
			{Name: "us", Latitude: 40, Longitude: -74, LoadBalancers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		},
		Networks: map[string]string{"198.51.100.0/24": "us"},
	}
	h, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		ecs   string
	}{
		{"web.apps.test.", dns.TypeA, ""}, {"apps.test.", dns.TypeNS, ""}, {"x.y.apps.test.", dns.TypeAAAA, "2001:db8::/32"},
		{"example.com.", dns.TypeA, ""}, {"_acme-challenge.apps.test.", dns.TypeTXT, "198.51.100.0/24"}, {"edge.example.net.", dns.TypeSOA, "0.0.0.0/0"},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.ecs != "" {
			p := netip.MustParsePrefix(q.ecs)
			fam := uint16(1)
			if p.Addr().Is6() {
				fam = 2
			}
			m.SetEdns0(4096, true)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
		}
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	src := netip.MustParseAddr("198.51.100.7")
	f.Fuzz(func(t *testing.T, wire []byte) {
		req := new(dns.Msg)
		if req.Unpack(wire) != nil {
			return
		}
		resp := h.Answer(req, src)
		resp.Truncate(dns.MinMsgSize)
		out, err := resp.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, resp)
		}
		if len(out) > dns.MinMsgSize {
			t.Fatalf("answer of %d bytes after truncation to %d", len(out), dns.MinMsgSize)
		}
		if resp.Id != req.Id || !resp.Response {
			t.Fatalf("answer id %d response %v, query id %d", resp.Id, resp.Response, req.Id)
		}
		if len(resp.Answer) > 0 && h.zoneFor(dns.CanonicalName(resp.Answer[0].Header().Name)) == nil {
			t.Fatalf("answer outside our zones: %v", resp.Answer)
		}
	})
}
