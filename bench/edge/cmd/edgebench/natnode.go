package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/zeitwork/zeitwork/internal/node/network"
)

// runNatNode sets up what a node with --direct-addr sets up (its VM
// network, with the direct transport's DNAT) and serves the backend in a
// stand-in VM on the VM bridge, published on a port of the direct
// address for the edge on this host (which connects from that address).
// It writes the direct address to out, and removes everything when ctx
// ends. Subnets 10.226.0.0/24 (VMs) and 10.227.0.0/30 (the link, whose
// host end is the direct address), used by nothing else in the tree.
func runNatNode(ctx context.Context, out string, log *slog.Logger) (err error) {
	name := fmt.Sprintf("zwbn%d", os.Getpid()%100000)
	direct := netip.MustParseAddr("10.227.0.1")
	n, err := network.Setup(ctx, network.Config{
		Name: name, Subnet: netip.MustParsePrefix("10.226.0.0/24"), Transit: netip.MustParsePrefix("10.227.0.0/30"),
		Direct: &network.DirectConfig{Addr: direct, First: 28100, Last: 28109}, Log: log,
	})
	if err != nil {
		if n != nil {
			n.Teardown()
		}
		return err
	}
	defer n.Teardown()
	vm, err := n.AddStandIn(ctx, name+"v", name+"p", netip.MustParseAddr("10.226.0.2"))
	if err != nil {
		return err
	}
	defer vm.Close()
	var ln net.Listener
	if err := vm.Run(func() (err error) { ln, err = net.Listen("tcp", "10.226.0.2:8080"); return err }); err != nil {
		return fmt.Errorf("backend in the stand-in vm: %w", err)
	}
	if err := n.Direct().SetEdges(ctx, []netip.Addr{direct}); err != nil {
		return err
	}
	at, err := n.Direct().Publish(ctx, instanceID, netip.MustParseAddrPort("10.226.0.2:8080"), 0)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(at.String()+"\n"), 0o644); err != nil {
		return err
	}
	err = serve(ctx, ln, http.HandlerFunc(hello))
	if err != nil && strings.Contains(err.Error(), "use of closed") {
		err = nil
	}
	return err
}
