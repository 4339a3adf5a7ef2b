package geodns

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// testLimiter is a limiter of the defaults with tweaks.
func testLimiter(t testing.TB, tweak func(*RRL)) *limiter {
	t.Helper()
	c := RRL{}
	if tweak != nil {
		tweak(&c)
	}
	c.defaults()
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	return newLimiter(c)
}

// flood sends n responses of kind k to src and counts the limited.
func flood(l *limiter, src netip.Addr, k respKind, n int) (limited int) {
	for range n {
		if v, _ := l.decide(src, k); v != verdictSend {
			limited++
		}
	}
	return limited
}

// TestRRLTableBounded: under a flood of responses to random spoofed
// sources (IPv4 and IPv6), the table stays within its size, and a
// network being limited stays limited: new networks evict the ones with
// credit, not it.
func TestRRLTableBounded(t *testing.T) {
	l := testLimiter(t, func(c *RRL) { c.TableSize = 1024; c.ResponsesPerSecond = 10 })
	victim := netip.MustParseAddr("198.51.100.7")
	if got := flood(l, victim, kindAnswer, 100); got < 80 {
		t.Fatalf("victim: %d of 100 limited, want at least 80", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), 1})
		} else {
			var b [16]byte
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			a = netip.AddrFrom16(b)
		}
		l.decide(a, respKind(i%int(numKinds)))
	}
	if l.capacity() != 1024 || l.size() > l.capacity() {
		t.Fatalf("table: %d entries of %d, want at most 1024", l.size(), l.capacity())
	}
	if l.size() < 1000 {
		t.Fatalf("table: %d entries after 200000 sources, want it full (1024)", l.size())
	}
	if v, _ := l.decide(victim, kindAnswer); v == verdictSend {
		t.Fatal("victim answered after random sources filled the table: its limit was evicted")
	}
}

// TestRRLKeys: networks are /24 and /56 by default; kinds have buckets
// of their own; IPv4 and IPv6 never share one.
func TestRRLKeys(t *testing.T) {
	l := testLimiter(t, func(c *RRL) { c.ResponsesPerSecond = 10 })
	for _, c := range []struct {
		name      string
		flooded   string
		k1        respKind
		same      string
		k2        respKind
		wantLimit bool
	}{
		{"same /24", "192.0.2.1", kindAnswer, "192.0.2.200", kindAnswer, true},
		{"next /24", "192.0.3.1", kindAnswer, "192.0.4.1", kindAnswer, false},
		{"same /56", "2001:db8:0:100::1", kindAnswer, "2001:db8:0:1ff::2", kindAnswer, true},
		{"next /56", "2001:db8:0:200::1", kindAnswer, "2001:db8:0:300::1", kindAnswer, false},
		{"nxdomain apart from answers", "192.0.5.1", kindNXDomain, "192.0.5.1", kindAnswer, false},
		{"errors apart from nxdomain", "192.0.6.1", kindError, "192.0.6.1", kindNXDomain, false},
		{"errors limited", "192.0.7.1", kindError, "192.0.7.1", kindError, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			flood(l, netip.MustParseAddr(c.flooded), c.k1, 50)
			v, _ := l.decide(netip.MustParseAddr(c.same), c.k2)
			if (v != verdictSend) != c.wantLimit {
				t.Fatalf("%s after a flood of %s: verdict %d, want limited %v", c.same, c.flooded, v, c.wantLimit)
			}
		})
	}
}

// TestRRLSlipAndRecovery: slip 0 never slips, 1 always; a flooded
// network is answered again once its debt (window) is paid back.
func TestRRLSlipAndRecovery(t *testing.T) {
	for _, slip := range []int{0, 1, 3} {
		l := testLimiter(t, func(c *RRL) { c.ResponsesPerSecond = 10; c.Slip = &slip })
		slipped := 0
		for range 70 {
			if v, _ := l.decide(netip.MustParseAddr("192.0.2.1"), kindAnswer); v == verdictSlip {
				slipped++
			}
		}
		want := 0
		if slip > 0 {
			want = 60 / slip
		}
		if slipped < want-1 || slipped > want+1 {
			t.Errorf("slip %d: %d of about 60 limited slipped, want %d", slip, slipped, want)
		}
	}
	l := testLimiter(t, func(c *RRL) { c.ResponsesPerSecond = 10; c.Window = Duration(time.Second) })
	src := netip.MustParseAddr("192.0.2.1")
	flood(l, src, kindAnswer, 1000)
	l.epoch = l.epoch.Add(-2 * time.Second) // two seconds pass: more than the window's debt
	if v, _ := l.decide(src, kindAnswer); v != verdictSend {
		t.Fatal("not answered after the window's debt was paid back")
	}
}

// FuzzRRL: any source address and kind is accounted without a panic,
// in a table that never grows past its size, and a network's verdicts
// are the same for every address in it.
func FuzzRRL(f *testing.F) {
	l := testLimiter(f, func(c *RRL) { c.TableSize = 64; c.ResponsesPerSecond = 3; c.Window = Duration(time.Hour) })
	f.Add([]byte{192, 0, 2, 1}, uint8(0), uint8(9))
	f.Add([]byte{0x20, 1, 0xd, 0xb8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(1), uint8(200))
	f.Fuzz(func(t *testing.T, b []byte, kind, host uint8) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		a = a.Unmap()
		k := respKind(kind % uint8(numKinds))
		for range 10 {
			l.decide(a, k)
		}
		// a flooded network (10 at 3/s, an hour's window) stays limited
		// for its other addresses too
		other := a.As16()
		other[15] ^= host
		o := netip.AddrFrom16(other)
		if a.Is4() {
			o = o.Unmap()
		}
		if v, _ := l.decide(o, k); v == verdictSend {
			t.Fatalf("%s answered after a flood from %s in its network", o, a)
		}
		if l.size() > l.capacity() {
			t.Fatalf("table %d entries of %d", l.size(), l.capacity())
		}
	})
}

// TestRRLReload: a reload with the same rrl keeps the running buckets
// (a flood's limits hold across it); a changed rrl starts afresh.
func TestRRLReload(t *testing.T) {
	cfg := Config{Zone: "apps.test", Nameservers: []Nameserver{{Name: "ns1.example.net"}},
		Regions: []Region{{Name: "eu", LoadBalancers: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(h, log)
	first := h.rrl
	if err := live.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if live.Handler().rrl != first {
		t.Fatal("reload with the same rrl: buckets replaced, want them kept")
	}
	cfg.RRL.ResponsesPerSecond = 50
	if err := live.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := live.Handler().rrl; got == first || got.rates[kindAnswer] != 50 {
		t.Fatal("reload with a changed rrl: want new buckets at the new rate")
	}
	live.Handler().Close()
}
