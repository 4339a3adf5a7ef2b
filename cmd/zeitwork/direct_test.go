package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// hostAddr is an IPv4 address of the host's own network interfaces (not
// loopback, nor a test's veth or bridge, which come and go).
func hostAddr(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "z") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				return p.Addr().String()
			}
		}
	}
	t.Fatal("the host has no IPv4 address outside loopback to test --direct-addr with")
	return ""
}

func TestParseDirectFlags(t *testing.T) {
	if d, err := parseDirect("", "x"); d != nil || err != nil {
		t.Errorf("no --direct-addr: %v %v, want off", d, err)
	}
	own := hostAddr(t)
	d, err := parseDirect(own, "20000-20099")
	if err != nil || d.Addr.String() != own || d.First != 20000 || d.Last != 20099 {
		t.Errorf("parseDirect = %+v %v", d, err)
	}
	for _, c := range []struct{ addr, ports string }{
		{"0.0.0.0", "1-2"}, {"::1", "1-2"}, {"host", "1-2"}, {own, "20000"}, {own, "2-1"}, {own, "0-5"}, {own, "1-70000"}, {"127.0.0.1", "1-2"},
		{"192.0.2.77", "1-2"}, // TEST-NET-1: not this host's
	} {
		if _, err := parseDirect(c.addr, c.ports); err == nil {
			t.Errorf("parseDirect(%q, %q) accepted", c.addr, c.ports)
		}
	}
	for _, c := range []struct {
		transport, source string
		direct, ok        bool
	}{
		{"tls", "", false, true}, {"direct", "", true, true}, {"direct", "10.0.0.5", true, true},
		{"direct", "nonsense", false, false}, {"tls", "10.0.0.5", false, false}, {"udp", "", false, false},
	} {
		direct, err := parseNodeTransport(c.transport, c.source)
		if direct != c.direct || (err == nil) != c.ok {
			t.Errorf("parseNodeTransport(%q, %q) = %v %v", c.transport, c.source, direct, err)
		}
	}
}
