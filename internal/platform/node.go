package platform

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"

	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/node/network"
	"github.com/zeitwork/zeitwork/internal/vmm/guestkernel"
	"github.com/zeitwork/zeitwork/internal/vmm/qemu"
)

// NodeOptions configures what a node agent runs on.
type NodeOptions struct {
	StateDir    string // holds vms/, images/ and build/
	KernelCache string
	NetName     string
	Subnet      netip.Prefix
	Transit     netip.Prefix
	DNS         []string
	// AllowVMs lists private prefixes VMs may reach (network.Config.Allow).
	AllowVMs []netip.Prefix
	Accel    string // auto, kvm or tcg

	// Direct turns on the direct transport (network.Config.Direct).
	Direct *network.DirectConfig
	// ImageCacheBytes bounds the cached root disks; least recently used
	// ones no instance runs on are evicted past it. 0: DefaultImageCache.
	ImageCacheBytes int64
	Log             *slog.Logger
}

// DefaultImageCache is the size of a node's root disk cache unless set.
const DefaultImageCache = 20 << 30

// NodeDeps are a node's guest kernel, VM network, VM driver and image cache.
type NodeDeps struct {
	Kernel  *guestkernel.Kernel
	Network *network.Network
	Driver  *qemu.Driver
	Images  *image.Store
}

// PrepareNode readies everything a node agent needs: it builds (or finds)
// the guest init, prepares the kernel and initramfs, sets up the VM network,
// and probes the accelerator. On error it returns what it set up so far,
// for the caller to tear down.
func PrepareNode(ctx context.Context, o NodeOptions) (*NodeDeps, error) {
	var d NodeDeps
	initBin, err := guestkernel.InitBinary(ctx, filepath.Join(o.StateDir, "build"))
	if err != nil {
		return &d, err
	}
	if d.Kernel, err = guestkernel.Prepare(ctx, o.KernelCache, initBin); err != nil {
		return &d, err
	}
	if len(o.DNS) == 0 {
		o.DNS = network.HostDNS("/etc/resolv.conf")
	}
	d.Network, err = network.Setup(ctx, network.Config{
		Name: o.NetName, Subnet: o.Subnet, Transit: o.Transit, DNS: o.DNS, Allow: o.AllowVMs, Direct: o.Direct, Log: o.Log,
	})
	if err != nil {
		return &d, err
	}
	d.Driver, err = qemu.New(qemu.Config{StateDir: filepath.Join(o.StateDir, "vms"), Log: o.Log.With("role", "vmm"), Accel: o.Accel})
	if err != nil {
		return &d, err
	}
	if o.Accel == "" || o.Accel == "auto" {
		if _, err := d.Driver.Probe(ctx, d.Kernel.Vmlinux, d.Kernel.Initrd); err != nil {
			return &d, err
		}
	}
	if o.ImageCacheBytes == 0 {
		o.ImageCacheBytes = DefaultImageCache
	}
	d.Images, err = image.NewStore(filepath.Join(o.StateDir, "images"), o.Log.With("role", "images"),
		image.WithMaxSize(o.ImageCacheBytes),
		// Nodes pull only from registries: a reference must never be taken
		// for a local directory that happens to have the same name.
		image.WithResolveOptions(image.WithRemoteOnly()))
	if err != nil {
		return &d, err
	}
	return &d, nil
}
