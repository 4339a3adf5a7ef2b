package geodns_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zeitwork/zeitwork/internal/geodns"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// The test bed: three regions, each with one load balancer on its own
// loopback address (a real TCP listener the checker connects to), a
// CIDR table for clients bound to 127.0.{1,2,3}.x, and a GeoIP database
// for clients located by ECS from documentation prefixes.
var (
	lbEU = netip.MustParseAddr("127.0.0.11")
	lbUS = netip.MustParseAddr("127.0.0.12")
	lbAP = netip.MustParseAddr("127.0.0.13")
)

// geoRecord is a GeoIP2 City-like record.
func geoRecord(country, continent string, lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String(country)},
		"continent": mmdbtype.Map{"code": mmdbtype.String(continent)},
		"location":  mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon)},
	}
}

// writeGeoDB writes a small City-like database: 198.51.100.0/24 in
// Frankfurt, 203.0.113.0/24 in New York, 192.0.2.0/24 in Singapore,
// 2001:db8:1::/48 in Frankfurt, 100.64.0.0/16 in France without
// coordinates.
func writeGeoDB(t testing.TB) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"198.51.100.0/24": geoRecord("DE", "EU", 50.11, 8.68),
		"203.0.113.0/24":  geoRecord("US", "NA", 40.71, -74.0),
		"192.0.2.0/24":    geoRecord("SG", "AS", 1.35, 103.82),
		"2001:db8:1::/48": geoRecord("DE", "EU", 50.11, 8.68),
		"100.64.0.0/16":   {"country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}, "continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
	} {
		_, n, _ := net.ParseCIDR(cidr)
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// lbListeners listens on the same port on each address, for the health
// checks; a test closes one to fail that load balancer.
func lbListeners(t testing.TB, addrs ...netip.Addr) (uint16, map[netip.Addr]net.Listener) {
	t.Helper()
	for try := 0; try < 20; try++ {
		first, err := net.Listen("tcp", net.JoinHostPort(addrs[0].String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(first.Addr().(*net.TCPAddr).Port)
		out := map[netip.Addr]net.Listener{addrs[0]: first}
		ok := true
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(port))))
			if err != nil {
				ok = false
				break
			}
			out[a] = ln
		}
		if ok {
			for _, ln := range out {
				go acceptAndClose(ln)
			}
			t.Cleanup(func() {
				for _, ln := range out {
					ln.Close()
				}
			})
			return port, out
		}
		for _, ln := range out {
			ln.Close()
		}
	}
	t.Fatal("no port free on every load balancer address")
	return 0, nil
}

// testConfig is the three-region configuration; port is the health port.
func testConfig(port uint16, geoDB string) geodns.Config {
	return geodns.Config{
		Zone:        "apps.test",
		Targets:     []string{"edge.example.net"},
		Nameservers: []geodns.Nameserver{{Name: "ns1.apps.test", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.53")}}, {Name: "ns2.example.net"}},
		TTL:         5, NSTTL: 3600, NegativeTTL: 30,
		Regions: []geodns.Region{
			{Name: "eu", Latitude: 50.11, Longitude: 8.68, Countries: []string{"FR"}, LoadBalancers: []netip.Addr{lbEU}},
			{Name: "us", Latitude: 40.71, Longitude: -74.0, LoadBalancers: []netip.Addr{lbUS}},
			{Name: "ap", Latitude: 1.35, Longitude: 103.82, Prefer: []string{"us"}, LoadBalancers: []netip.Addr{lbAP}},
		},
		GeoIPDatabase: geoDB,
		Networks:      map[string]string{"127.0.1.0/24": "eu", "127.0.2.0/24": "us", "127.0.3.0/24": "ap"},
		Health:        geodns.Health{Port: port, Interval: geodns.Duration(100 * time.Millisecond), Timeout: geodns.Duration(time.Second)},
	}
}

// server is a running DNS server on loopback.
type server struct {
	addr string // host:port, the same for UDP and TCP
	h    *geodns.Handler
	lbs  map[netip.Addr]net.Listener
	reg  *prometheus.Registry
}

// start runs a server on a loopback UDP and TCP port until the test
// ends; tweak adjusts the configuration first.
func start(t testing.TB, tweak ...func(*geodns.Config)) *server {
	t.Helper()
	cfg := testConfig(0, writeGeoDB(t))
	for _, f := range tweak {
		f(&cfg)
	}
	var all []netip.Addr
	for _, r := range cfg.Regions {
		all = append(all, r.LoadBalancers...)
	}
	port, lbs := lbListeners(t, all...)
	cfg.Health.Port = port
	h, err := geodns.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	reg := prometheus.NewRegistry()
	if err := h.Register(reg); err != nil {
		t.Fatal(err)
	}
	udp, tcp := listenPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { h.Run(ctx); done <- struct{}{} }()
	go func() { geodns.Serve(ctx, h, udp, tcp); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	s := &server{addr: udp.LocalAddr().String(), h: h, lbs: lbs, reg: reg}
	s.waitReady(t)
	return s
}

// listenPair listens on one loopback port for UDP and TCP.
func listenPair(t testing.TB) (net.PacketConn, net.Listener) {
	for try := 0; try < 20; try++ {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp
		}
		udp.Close()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil, nil
}

// waitReady polls until the server answers over UDP and TCP.
func (s *server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, proto := range []string{"udp", "tcp"} {
		for {
			c := &dns.Client{Net: proto, Timeout: 500 * time.Millisecond}
			m := new(dns.Msg)
			m.SetQuestion("apps.test.", dns.TypeSOA)
			if _, _, err := c.Exchange(m, s.addr); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dns server on %s (%s) does not answer", s.addr, proto)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// query asks s over proto from the local address from (zero: any),
// with ecs if set.
func (s *server) query(t testing.TB, proto string, from netip.Addr, name string, qtype uint16, ecs *dns.EDNS0_SUBNET) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if ecs != nil {
		m.SetEdns0(1232, false)
		o := m.IsEdns0()
		o.Option = append(o.Option, ecs)
	}
	return s.exchange(t, proto, from, m)
}

func (s *server) exchange(t testing.TB, proto string, from netip.Addr, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	if from.IsValid() {
		if proto == "udp" {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: from.AsSlice()}}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
		}
	}
	var lastErr error
	for try := 0; try < 3; try++ { // UDP on a loaded machine may drop
		in, _, err := c.Exchange(m, s.addr)
		if err == nil {
			return in
		}
		lastErr = err
	}
	t.Fatalf("query %s over %s: %v", m.Question[0].Name, proto, lastErr)
	return nil
}

func subnet(cidr string) *dns.EDNS0_SUBNET {
	p := netip.MustParsePrefix(cidr)
	fam := uint16(1)
	if p.Addr().Is6() {
		fam = 2
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
}

// addrs are the A/AAAA addresses of an answer.
func addrs(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		switch a := rr.(type) {
		case *dns.A:
			ad, _ := netip.AddrFromSlice(a.A)
			out = append(out, ad.Unmap())
		case *dns.AAAA:
			ad, _ := netip.AddrFromSlice(a.AAAA)
			out = append(out, ad)
		}
	}
	return out
}

// echoed is the response's ECS option, nil if none.
func echoed(m *dns.Msg) *dns.EDNS0_SUBNET {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				return s
			}
		}
	}
	return nil
}

// acceptAndClose drains a load balancer's health checks, so its accept
// queue never fills however long a test runs.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// relisten listens on addr again, for a load balancer that comes back.
func (s *server) relisten(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go acceptAndClose(ln)
	t.Cleanup(func() { ln.Close() })
}
