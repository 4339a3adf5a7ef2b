package geodns_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: queries are counted by response code, answers by region,
// and the healthy regions are shown.
func TestMetrics(t *testing.T) {
	s := start(t)
	before := counter(t, s, "zeitwork_dns_queries_total", "NOERROR")
	s.query(t, "udp", netip.MustParseAddr("127.0.2.3"), "web.apps.test", dns.TypeA, nil)
	s.query(t, "udp", netip.Addr{}, "example.com", dns.TypeA, nil)
	s.query(t, "udp", netip.Addr{}, "a.b.apps.test", dns.TypeA, nil)
	want := `
# HELP zeitwork_dns_healthy_regions Regions with at least one healthy load balancer.
# TYPE zeitwork_dns_healthy_regions gauge
zeitwork_dns_healthy_regions 3
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "zeitwork_dns_healthy_regions"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, label string
		min         float64
	}{
		{"zeitwork_dns_queries_total", "NOERROR", before + 1},
		{"zeitwork_dns_queries_total", "REFUSED", 1},
		{"zeitwork_dns_queries_total", "NXDOMAIN", 1},
		{"zeitwork_dns_region_answers_total", "us", 1},
	} {
		if got := counter(t, s, c.name, c.label); got < c.min {
			t.Errorf("%s{%s} = %v, want at least %v", c.name, c.label, got, c.min)
		}
	}
}

// counter is the value of the counter name with one label of value
// label, 0 if none.
func counter(t *testing.T, s *server, name, label string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
