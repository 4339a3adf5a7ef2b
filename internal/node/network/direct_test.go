package network

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// directBed is a node with the direct transport on, in the host
// namespace as a real node has it, and around it namespaces of the test's
// own: an edge and another host, each linked to the node by a veth, and a
// stand-in VM on the VM network's bridge (pinned as a tap is) running two
// apps. Subnets 10.233-10.235.<pid>.
type directBed struct {
	n               *Network
	addr            netip.Addr // the node's direct address
	edge, other, vm string     // namespaces
	vmAddr          netip.Addr
}

func newDirectBed(t *testing.T) *directBed {
	t.Helper()
	pid := os.Getpid() % 100000
	b := byte(os.Getpid()%200 + 20)
	sub := func(third byte, last byte) netip.Addr { return netip.AddrFrom4([4]byte{10, third, b, last}) }
	bed := &directBed{addr: sub(235, 1), edge: fmt.Sprintf("zde%d", pid), other: fmt.Sprintf("zdo%d", pid),
		vm: fmt.Sprintf("zdv%d", pid), vmAddr: sub(233, 200)}
	cfg := Config{Name: fmt.Sprintf("zwd%d", pid), Subnet: netip.PrefixFrom(sub(233, 0), 24),
		Transit: netip.PrefixFrom(sub(234, 0), 30), Direct: &DirectConfig{Addr: bed.addr, First: 20000, Last: 20009}}
	n, err := Setup(context.Background(), cfg)
	if err != nil {
		// What Setup made before it failed (it returns no network).
		(&Network{cfg: cfg, direct: newDirect(*cfg.Direct, cfg.Name, cfg.hostVeth())}).Teardown()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Teardown(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	bed.n = n
	// The edge at .2 reaches the node at .1; the other host at .6 reaches
	// it through its own link (.5), as a host on the same network would.
	hostLink(t, bed.edge, fmt.Sprintf("zdeh%d", pid), sub(235, 1), sub(235, 2))
	hostLink(t, bed.other, fmt.Sprintf("zdoh%d", pid), sub(235, 5), sub(235, 6))
	bed.vmLink(t, cfg, fmt.Sprintf("zdvh%d", pid))
	for _, port := range []int{8001, 8002} {
		serveApp(t, bed.vm, netip.AddrPortFrom(bed.vmAddr, uint16(port)), fmt.Sprint(port))
	}
	return bed
}

// hostLink makes namespace ns with a veth to the host: host gets hostIP,
// ns gets nsIP (a /30) and a default route through the host.
func hostLink(t *testing.T, ns, veth string, hostIP, nsIP netip.Addr) {
	t.Helper()
	addNamespace(t, ns)
	run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	run(t, "ip", "addr", "add", hostIP.String()+"/30", "dev", veth)
	run(t, "ip", "link", "set", veth, "up")
	run(t, "ip", "-n", ns, "addr", "add", nsIP.String()+"/30", "dev", "eth0")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "route", "add", "default", "via", hostIP.String())
}

// vmLink puts the stand-in VM's namespace on the bridge, its port pinned
// to its MAC and address like a tap's.
func (bed *directBed) vmLink(t *testing.T, cfg Config, port string) {
	t.Helper()
	addNamespace(t, bed.vm)
	mac := macFor(bed.vmAddr)
	run(t, "ip", "-n", cfg.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", bed.vm)
	run(t, "ip", "-n", bed.vm, "link", "set", "eth0", "address", mac)
	ns, err := netns.GetFromName(cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := nftIn(context.Background(), ns, pinRules(port, mac, bed.vmAddr)); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "-n", cfg.Name, "link", "set", port, "master", bridgeName, "up")
	run(t, "ip", "-n", bed.vm, "addr", "add", netip.PrefixFrom(bed.vmAddr, 24).String(), "dev", "eth0")
	run(t, "ip", "-n", bed.vm, "link", "set", "eth0", "up")
	run(t, "ip", "-n", bed.vm, "link", "set", "lo", "up")
	run(t, "ip", "-n", bed.vm, "route", "add", "default", "via", bed.n.gateway.String())
}

func addNamespace(t *testing.T, name string) {
	t.Helper()
	exec.Command("ip", "netns", "del", name).Run() // a crashed run's
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// serveApp answers every line on a connection with "<name> <line>",
// keeping the connection open, as a kept-alive app does.
func serveApp(t *testing.T, ns string, at netip.AddrPort, name string) {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() (err error) { ln, err = net.Listen("tcp", at.String()); return err })
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s %s\n", name, sc.Text())
				}
			}()
		}
	}()
}

// inNS runs fn on a thread in namespace ns ("" is the host's): sockets it
// makes stay there.
func inNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if ns == "" {
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := inNamespace(h, fn); err != nil {
		t.Fatal(err)
	}
}

// dial connects from ns; it fails within timeout if nothing answers.
func dial(t *testing.T, ns string, to netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var derr error
	inNS(t, ns, func() error { c, derr = net.DialTimeout("tcp", to.String(), timeout); return nil })
	return c, derr
}

// ask sends one line on c and returns the answer.
func ask(c net.Conn, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(s), err
}

// mustAsk dials from ns and expects want as the answer to "hi".
func mustAsk(t *testing.T, ns string, to netip.AddrPort, want string) net.Conn {
	t.Helper()
	c, err := dial(t, ns, to, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", to, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	if got, err := ask(c, "hi"); err != nil || got != want+" hi" {
		t.Fatalf("from %q through %s: %q, %v; want %q", ns, to, got, err, want+" hi")
	}
	return c
}

// mustRefuse expects a dial from ns to be refused (or, from the VM
// network, whose packets to the host are dropped, to get nowhere).
func mustRefuse(t *testing.T, ns string, to netip.AddrPort, what string) {
	t.Helper()
	c, err := dial(t, ns, to, time.Second)
	if err == nil {
		got, aerr := ask(c, "hi")
		c.Close()
		t.Fatalf("%s: %s reached from %q: %q %v", what, to, ns, got, aerr)
	}
}

func TestDirectPublish(t *testing.T) {
	ctx := context.Background()
	bed := newDirectBed(t)
	d := bed.n.Direct()
	edgeAddr := netip.AddrFrom4([4]byte{10, 235, bed.addr.As4()[2], 2})
	// The node's own address stands for an edge on the same host (the
	// nat output hook's path).
	if err := d.SetEdges(ctx, []netip.Addr{edgeAddr, bed.addr}); err != nil {
		t.Fatal(err)
	}
	a, err := d.Publish(ctx, "instance-a", netip.AddrPortFrom(bed.vmAddr, 8001), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Addr() != bed.addr || a.Port() < 20000 || a.Port() > 20009 {
		t.Fatalf("published on %s", a)
	}
	if again, err := d.Publish(ctx, "instance-a", netip.AddrPortFrom(bed.vmAddr, 8001), 0); err != nil || again != a {
		t.Fatalf("publishing again gave %s %v, want %s", again, err, a)
	}

	edgeConn := mustAsk(t, bed.edge, a, "8001")
	mustAsk(t, "", a, "8001")
	mustRefuse(t, bed.other, a, "a host that is no edge")
	mustRefuse(t, bed.vm, a, "a vm")
	mustRefuse(t, bed.edge, netip.AddrPortFrom(bed.addr, a.Port()+1), "an unpublished port")

	t.Run("port reuse", func(t *testing.T) {
		old := mustAsk(t, bed.edge, a, "8001")
		if err := d.Unpublish(ctx, "instance-a"); err != nil {
			t.Fatal(err)
		}
		mustRefuse(t, bed.edge, a, "a stopped instance's port")
		b, err := d.Publish(ctx, "instance-b", netip.AddrPortFrom(bed.vmAddr, 8002), a.Port())
		if err != nil || b != a {
			t.Fatalf("reuse of %s gave %s %v", a, b, err)
		}
		mustAsk(t, bed.edge, b, "8002")
		// The connection made to the old instance must not reach it (nor
		// the new one) any more.
		if got, err := ask(old, "again"); err == nil {
			t.Fatalf("an old flow on a reused port still answers: %q", got)
		}
		if got, err := ask(edgeConn, "again"); err == nil {
			t.Fatalf("the first connection still answers on a reused port: %q", got)
		}
	})

	t.Run("edge removed", func(t *testing.T) {
		b, _ := d.Publish(ctx, "instance-b", netip.AddrPortFrom(bed.vmAddr, 8002), 0)
		c := mustAsk(t, bed.edge, b, "8002")
		if err := d.SetEdges(ctx, []netip.Addr{bed.addr}); err != nil {
			t.Fatal(err)
		}
		if got, err := ask(c, "still there?"); err == nil {
			t.Fatalf("a removed edge's open connection still answers: %q", got)
		}
		mustRefuse(t, bed.edge, b, "a removed edge")
		mustAsk(t, "", b, "8002") // the other edge keeps its access
	})
}
