package platform

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// fakeInternet is a network namespace that plays a host on the internet: it
// hangs off the host by a veth pair, so traffic from VMs reaches it only by
// being forwarded (and masqueraded) by the host, as it would to the world.
type fakeInternet struct {
	addr string // where its HTTP server listens

	mu      sync.Mutex
	remotes []string // the client addresses it has seen
}

// fakeInternetTransit numbers the fake internet's link. It is a private
// range, so a platform whose VMs reach it must allow it (Config.AllowVMs).
func fakeInternetTransit() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 243, byte(os.Getpid()%150 + 50), 0}), 30)
}

func startFakeInternet(t *testing.T, transit netip.Prefix) *fakeInternet {
	t.Helper()
	name := fmt.Sprintf("zwinet%d", os.Getpid()%100000)
	hostVeth := fmt.Sprintf("zwi%d", os.Getpid()%100000)
	nsIP := startTestHost(t, name, hostVeth, transit)

	ln := listenIn(t, name, net.JoinHostPort(nsIP.String(), "0"))
	fi := &fakeInternet{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fi.mu.Lock()
			fi.remotes = append(fi.remotes, c.RemoteAddr().String())
			fi.mu.Unlock()
			c.Close()
		}
	}()
	return fi
}

// listenIn opens a listener inside a network namespace; the socket stays
// there after the thread switches back.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	inNetNS(t, ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln
}

func (fi *fakeInternet) seen() []string {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return append([]string{}, fi.remotes...)
}

// startTestHost makes a network namespace standing for another host,
// linked to this one by a veth numbered from the /30 transit (this host
// gets the first address, the namespace the second, which it returns), and
// removes both when the test ends (routes through the veth go with it).
func startTestHost(t *testing.T, name, hostVeth string, transit netip.Prefix) netip.Addr {
	t.Helper()
	hostIP := transit.Masked().Addr().Next()
	nsIP := hostIP.Next()
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostVeth).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	ipCmd(t, "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", name)
	ipCmd(t, "addr", "add", netip.PrefixFrom(hostIP, 30).String(), "dev", hostVeth)
	ipCmd(t, "link", "set", hostVeth, "up")
	ipCmd(t, "-n", name, "addr", "add", netip.PrefixFrom(nsIP, 30).String(), "dev", "eth0")
	ipCmd(t, "-n", name, "link", "set", "eth0", "up")
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return nsIP
}

// ipCmd runs ip(8) and fails the test if it fails.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
