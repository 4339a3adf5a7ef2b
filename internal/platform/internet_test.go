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
	hostIP := transit.Masked().Addr().Next()
	nsIP := hostIP.Next()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		exec.Command("ip", "link", "del", hostVeth).Run()
	})
	run("link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", name)
	run("addr", "add", netip.PrefixFrom(hostIP, 30).String(), "dev", hostVeth)
	run("link", "set", hostVeth, "up")
	run("-n", name, "addr", "add", netip.PrefixFrom(nsIP, 30).String(), "dev", "eth0")
	run("-n", name, "link", "set", "eth0", "up")
	run("-n", name, "link", "set", "lo", "up")

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
