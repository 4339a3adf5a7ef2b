// Command query asks a DNS server one question and prints the answer's
// rcode and records, one a line; the GeoDNS benchmark uses it to wait for
// a server and to check that both servers answer alike (Debian's dig
// would need another package).
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("s", "127.0.0.1:53", "server host:port")
	name := flag.String("n", "web.apps.bench", "name")
	qtype := flag.String("t", "A", "type")
	subnet := flag.String("ecs", "", "EDNS client subnet, e.g. 198.51.100.0/24")
	flag.Parse()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(*name), dns.StringToType[*qtype])
	if *subnet != "" {
		p := netip.MustParsePrefix(*subnet)
		fam := uint16(1)
		if p.Addr().Is6() {
			fam = 2
		}
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	}
	c := &dns.Client{Timeout: time.Second}
	in, _, err := c.Exchange(m, *server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(1)
	}
	fmt.Println(dns.RcodeToString[in.Rcode])
	for _, rr := range in.Answer {
		fmt.Println(rr.String())
	}
	if o := in.IsEdns0(); o != nil {
		for _, e := range o.Option {
			fmt.Println("; " + e.String())
		}
	}
}
