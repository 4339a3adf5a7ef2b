package testbed

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// internet is a bridge in the test's own network namespace that stands
// for the internet: every host's namespace hangs off it by a veth pair.
// All hosts share one /24 (10.247.B.0/24, B from the pid, so that test
// binaries running at once do not collide); the test process itself has
// the first address, as the administrator's laptop.
type internet struct {
	t      *testing.T
	tag    string // pid-based, in every name
	bridge string
	b      byte
	hosts  int
}

func newInternet(t *testing.T) *internet {
	t.Helper()
	pid := os.Getpid() % 100000
	n := &internet{t: t, tag: fmt.Sprint(pid), bridge: fmt.Sprintf("zwtb%d", pid), b: byte(os.Getpid()%150 + 50)}
	// Bridged frames skip the host's netfilter: the bed's traffic is
	// between its own namespaces and no host firewall rule should see it.
	run(t, "ip", "link", "add", "name", n.bridge, "type", "bridge",
		"nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0")
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.bridge).Run() })
	run(t, "ip", "addr", "add", n.addr(1).String()+"/24", "dev", n.bridge)
	run(t, "ip", "link", "set", n.bridge, "up")
	return n
}

// addr is 10.247.B.last.
func (n *internet) addr(last byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 247, n.b, last}) }

// prefix is 10.247.B.last/bits.
func (n *internet) prefix(last byte, bits int) netip.Prefix {
	return netip.PrefixFrom(n.addr(last), bits)
}

// host is one machine: a network namespace with one interface on the
// internet. Cut sets its link down, as if its cable were pulled: packets
// are lost without a reset, which is what a dead machine looks like.
type host struct {
	name string // short, e.g. "eu-node0"
	ns   string // /run/netns/<ns>
	veth string // the link's end on the bridge
	ip   netip.Addr
}

func (n *internet) addHost(name string, ip netip.Addr) *host {
	t := n.t
	t.Helper()
	n.hosts++
	h := &host{name: name, ns: fmt.Sprintf("zwtb%s-%s", n.tag, name), veth: fmt.Sprintf("zb%s-%d", n.tag, n.hosts), ip: ip}
	run(t, "ip", "netns", "add", h.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
	run(t, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", h.veth).Run() })
	run(t, "ip", "link", "set", h.veth, "master", n.bridge, "up")
	run(t, "ip", "-n", h.ns, "addr", "add", netip.PrefixFrom(ip, 24).String(), "dev", "eth0")
	run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
	return h
}

// cut takes the host off the internet; restore puts it back.
func (h *host) cut(t *testing.T)     { t.Helper(); run(t, "ip", "link", "set", h.veth, "down") }
func (h *host) restore(t *testing.T) { t.Helper(); run(t, "ip", "link", "set", h.veth, "up") }

// dial opens a connection from inside the host's namespace: the socket
// is made on a thread switched into it, and stays there. The thread is
// switched back before it is released; it must not end, since a child
// process's parent-death signal follows the thread that started it.
func (h *host) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open namespace %s: %w", h.ns, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter namespace %s: %w", h.ns, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread stays locked and ends with the goroutine
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// run runs a command and fails the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
