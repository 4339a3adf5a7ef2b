package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CreateTap gives an instance a persistent tap on the bridge, isolated from
// the other ports, and an address. reuse (may be zero) keeps the address a
// recovered instance already has.
func (n *Network) CreateTap(instanceID string, reuse netip.Addr) (*Tap, error) {
	addr, err := n.allocate(instanceID, reuse)
	if err != nil {
		return nil, err
	}
	tap := &Tap{
		Name:    TapName(instanceID),
		MAC:     macFor(addr),
		Address: netip.PrefixFrom(addr, n.cfg.Subnet.Bits()),
		Gateway: n.gateway,
		NetNS:   n.NetNSPath(),
	}
	if err := n.withHandle(func(h *netlink.Handle, ns netns.NsHandle) error {
		// The rules first: until the tap is a bridge port they match
		// nothing, and from then on it is pinned.
		if err := nftIn(context.Background(), ns, pinRules(tap.Name, tap.MAC, addr)); err != nil {
			return fmt.Errorf("pin port: %w", err)
		}
		if err := n.addTap(h, ns, tap.Name, tap.MAC); err != nil {
			return err
		}
		return pinNeighbour(h, addr, tap.MAC)
	}); err != nil {
		n.release(addr)
		return nil, fmt.Errorf("create tap %s: %w", tap.Name, err)
	}
	return tap, nil
}

func (n *Network) addTap(h *netlink.Handle, ns netns.NsHandle, name, mac string) error {
	link, err := h.LinkByName(name)
	if err != nil {
		t := &netlink.Tuntap{
			LinkAttrs: netlink.LinkAttrs{Name: name},
			Mode:      netlink.TUNTAP_MODE_TAP,
			Flags:     netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI,
			// Persistent, so QEMU can open it by name and it outlives the agent.
			NonPersist: false,
		}
		if err := inNamespace(ns, func() error { return netlink.LinkAdd(t) }); err != nil {
			return err
		}
		if link, err = h.LinkByName(name); err != nil {
			return err
		}
	}
	br, err := h.LinkByName(bridgeName)
	if err != nil {
		return err
	}
	if err := h.LinkSetMaster(link, br); err != nil {
		return err
	}
	if err := h.LinkSetIsolated(link, true); err != nil {
		return fmt.Errorf("isolate port: %w", err)
	}
	if err := pinPort(h, link, mac); err != nil {
		return err
	}
	return h.LinkSetUp(link)
}

// pinPort turns learning and flooding off on the port and gives the
// bridge a static entry for the VM's MAC: a frame claiming another VM's
// MAC cannot move that MAC to this port, and frames for unknown MACs are
// not sent here. (The bridge table's rules drop such frames too; this keeps
// the forwarding database right on its own.)
func pinPort(h *netlink.Handle, link netlink.Link, mac string) error {
	if err := h.LinkSetLearning(link, false); err != nil {
		return fmt.Errorf("port learning off: %w", err)
	}
	if err := h.LinkSetFlood(link, false); err != nil {
		return fmt.Errorf("port flooding off: %w", err)
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	if err := h.NeighSet(&netlink.Neigh{
		LinkIndex: link.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP,
		Flags: netlink.NTF_MASTER, HardwareAddr: hw,
	}); err != nil {
		return fmt.Errorf("static fdb entry %s: %w", mac, err)
	}
	return nil
}

// pinNeighbour writes the VM's address and MAC into the bridge's neighbour
// table as permanent. The host then never ARPs for a VM: probes sent while
// the guest is still booting cannot leave a failed entry that delays the
// first connection once it is up, and no other VM can answer for the
// address.
func pinNeighbour(h *netlink.Handle, addr netip.Addr, mac string) error {
	br, err := h.LinkByName(bridgeName)
	if err != nil {
		return err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	if err := h.NeighSet(&netlink.Neigh{
		LinkIndex: br.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: addr.AsSlice(), HardwareAddr: hw,
	}); err != nil {
		return fmt.Errorf("pin neighbour %s: %w", addr, err)
	}
	return nil
}

// DeleteTap removes an instance's tap and frees its address.
func (n *Network) DeleteTap(instanceID string, addr netip.Addr) error {
	name := TapName(instanceID)
	err := n.withHandle(func(h *netlink.Handle, ns netns.NsHandle) error {
		if err := nftIn(context.Background(), ns, unpinRules(name)); err != nil {
			return fmt.Errorf("unpin port: %w", err)
		}
		if addr.IsValid() {
			if br, err := h.LinkByName(bridgeName); err == nil {
				h.NeighDel(&netlink.Neigh{LinkIndex: br.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()})
			}
		}
		link, err := h.LinkByName(name)
		if err != nil {
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			return err
		}
		return h.LinkDel(link)
	})
	if addr.IsValid() {
		n.release(addr)
	}
	if err != nil {
		return fmt.Errorf("delete tap %s: %w", name, err)
	}
	return nil
}

// Taps lists the tap devices in the namespace (for leak checks and cleanup).
func (n *Network) Taps() ([]string, error) {
	var names []string
	err := n.withHandle(func(h *netlink.Handle, _ netns.NsHandle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "tuntap" {
				names = append(names, l.Attrs().Name)
			}
		}
		return nil
	})
	return names, err
}

func (n *Network) withHandle(fn func(*netlink.Handle, netns.NsHandle) error) error {
	ns, err := netns.GetFromName(n.cfg.Name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", n.cfg.Name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h, ns)
}

// Teardown removes the namespace (and with it the bridge and taps), the
// veth, the route and the firewall tables.
func (n *Network) Teardown() error {
	// Every step is tried whatever the others gave, so one failure does not
	// leave the rest behind.
	var errs []error
	if link, err := netlink.LinkByName(n.cfg.hostVeth()); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete veth %s: %w", n.cfg.hostVeth(), err))
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		errs = append(errs, fmt.Errorf("find veth %s: %w", n.cfg.hostVeth(), err))
	}
	errs = append(errs, removeNamespace(n.cfg.Name))
	if err := n.teardownFirewall(); err != nil {
		errs = append(errs, fmt.Errorf("delete firewall table %s: %w", n.hostTable(), err))
	}
	return errors.Join(errs...)
}
