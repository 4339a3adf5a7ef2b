package platform

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netns"
)

// privateLab is a network namespace that plays the private networks a
// node may sit on (cloud metadata, RFC 1918, CGNAT): it holds the addresses
// the test names, and the host routes each of them, as a /32, through a
// veth to it. So whatever the VMs' firewall does, test traffic to these
// addresses reaches only this namespace, never a real metadata service or
// network. It serves TCP (accept and close) and UDP (echo) on the ports
// given, on every address, and records which addresses were reached.
type privateLab struct {
	mu   sync.Mutex
	seen map[string]int // "tcp 172.20.0.10:8099" -> connections
}

func startPrivateLab(t *testing.T, transit netip.Prefix, addrs []netip.Addr, ports []uint16) *privateLab {
	t.Helper()
	name := fmt.Sprintf("zwlab%d", os.Getpid()%100000)
	hostVeth := fmt.Sprintf("zwl%d", os.Getpid()%100000)
	nsIP := startTestHost(t, name, hostVeth, transit)
	for _, a := range addrs {
		ipCmd(t, "-n", name, "addr", "add", a.String()+"/32", "dev", "lo")
		// "add", not "replace": fail rather than take over a route the
		// machine has.
		ipCmd(t, "route", "add", a.String()+"/32", "via", nsIP.String(), "dev", hostVeth)
	}
	lab := &privateLab{seen: map[string]int{}}
	for _, a := range addrs {
		for _, port := range ports {
			lab.serve(t, name, netip.AddrPortFrom(a, port))
		}
	}
	return lab
}

// serve accepts TCP connections and echoes UDP datagrams at addr.
func (l *privateLab) serve(t *testing.T, ns string, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	inNetNS(t, ns, func() (err error) {
		if ln, err = net.Listen("tcp4", addr.String()); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.record("tcp", addr)
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			l.record("udp", addr)
			pc.WriteTo(buf[:n], from)
		}
	}()
}

func (l *privateLab) record(proto string, addr netip.AddrPort) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[proto+" "+addr.String()]++
}

// reached tells how often proto ("tcp" or "udp") reached addr.
func (l *privateLab) reached(proto string, addr netip.AddrPort) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[proto+" "+addr.String()]
}

// inNetNS runs fn on a thread switched into the named namespace; sockets
// opened there stay in it.
func inNetNS(t *testing.T, name string, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}
