package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/vishvananda/netns"
)

// StandIn is a network namespace on the VM bridge in place of a VM: its
// bridge port is pinned to its MAC and address as a tap is, so the
// traffic takes a VM's way through the node (firewall, routes, DNAT)
// without QEMU. For tests and benchmarks of the network; sockets made in
// it (Run) are the "app".
type StandIn struct {
	Name string // namespace, in /run/netns
	Addr netip.Addr
	port string // its bridge port in the VM namespace
	net  *Network
}

// AddStandIn makes namespace name with addr (in the VM subnet, not
// handed to an instance) on the bridge. port names its bridge port (at
// most 15 characters).
func (n *Network) AddStandIn(ctx context.Context, name, port string, addr netip.Addr) (*StandIn, error) {
	if !n.cfg.Subnet.Contains(addr) || addr == n.gateway {
		return nil, fmt.Errorf("stand-in address %s must be in the vm subnet %s, not its gateway", addr, n.cfg.Subnet)
	}
	s := &StandIn{Name: name, Addr: addr, port: port, net: n}
	mac := macFor(addr)
	steps := [][]string{
		{"netns", "add", name},
		{"-n", n.cfg.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"-n", name, "link", "set", "eth0", "address", mac},
	}
	if err := runIPAll(steps); err != nil {
		s.Close()
		return nil, err
	}
	ns, err := netns.GetFromName(n.cfg.Name)
	if err != nil {
		s.Close()
		return nil, err
	}
	defer ns.Close()
	if err := nftIn(ctx, ns, pinRules(port, mac, addr)); err != nil {
		s.Close()
		return nil, fmt.Errorf("pin stand-in port: %w", err)
	}
	steps = [][]string{
		{"-n", n.cfg.Name, "link", "set", port, "master", bridgeName, "up"},
		{"-n", name, "addr", "add", netip.PrefixFrom(addr, n.cfg.Subnet.Bits()).String(), "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "route", "add", "default", "via", n.gateway.String()},
	}
	if err := runIPAll(steps); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Run runs fn on a thread in the stand-in's namespace: a socket it makes
// (a listener, a dial) stays there.
func (s *StandIn) Run(fn func() error) error {
	h, err := netns.GetFromName(s.Name)
	if err != nil {
		return err
	}
	defer h.Close()
	return inNamespace(h, fn)
}

// Close removes the namespace, its bridge port and the port's rules.
func (s *StandIn) Close() error {
	var errs []error
	if err := runIP("netns", "del", s.Name); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	if ns, err := netns.GetFromName(s.net.cfg.Name); err == nil {
		errs = append(errs, nftIn(context.Background(), ns, unpinRules(s.port)))
		ns.Close()
	}
	return errors.Join(errs...)
}

func runIPAll(steps [][]string) error {
	for _, args := range steps {
		if err := runIP(args...); err != nil {
			return err
		}
	}
	return nil
}

func runIP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
