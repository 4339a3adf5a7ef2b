package main

import "testing"

func TestParseDirectFlags(t *testing.T) {
	if d, err := parseDirect("", "x"); d != nil || err != nil {
		t.Errorf("no --direct-addr: %v %v, want off", d, err)
	}
	d, err := parseDirect("10.1.2.3", "20000-20099")
	if err != nil || d.Addr.String() != "10.1.2.3" || d.First != 20000 || d.Last != 20099 {
		t.Errorf("parseDirect = %+v %v", d, err)
	}
	for _, c := range []struct{ addr, ports string }{
		{"0.0.0.0", "1-2"}, {"::1", "1-2"}, {"host", "1-2"}, {"10.1.2.3", "20000"}, {"10.1.2.3", "2-1"}, {"10.1.2.3", "0-5"}, {"10.1.2.3", "1-70000"},
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
