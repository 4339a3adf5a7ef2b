package network

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
)

// fallbackDNS are used when the host's resolvers cannot serve VMs.
var fallbackDNS = []string{"1.1.1.1", "8.8.8.8"}

// HostDNS returns the host's resolvers that a VM can use: those in
// resolvConf (usually /etc/resolv.conf) that are not on loopback, since a
// VM cannot reach the host's own services (a local stub resolver such as
// systemd-resolved's 127.0.0.53). When none is left, public resolvers.
func HostDNS(resolvConf string) []string {
	var out []string
	if f, err := os.Open(resolvConf); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) < 2 || fields[0] != "nameserver" {
				continue
			}
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
				out = append(out, a.String())
			}
		}
	}
	if len(out) == 0 {
		return append([]string{}, fallbackDNS...)
	}
	return out
}
