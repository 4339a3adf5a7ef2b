package node

import (
	"context"
	"net/netip"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/node/network"
)

// Images prepares root disks; *image.Store is the real one. An interface so
// that the supervisor's restart and adoption logic can be tested without
// pulling images (or root).
type Images interface {
	RootDisk(ctx context.Context, ref string, auth authn.Authenticator, opts ...image.Option) (*image.Disk, error)
	CopyForVM(ctx context.Context, disk *image.Disk, dst string) (image.CopyStats, error)
	// Hold keeps the cached disk of digest from eviction until release is
	// called (an adopted VM runs on it).
	Hold(digest string) (release func())
}

// Network gives each instance a tap device; *network.Network is the real
// one.
type Network interface {
	CreateTap(instanceID string, reuse netip.Addr) (*network.Tap, error)
	DeleteTap(instanceID string, addr netip.Addr) error
	DNS() []string
}

var (
	_ Images  = (*image.Store)(nil)
	_ Network = (*network.Network)(nil)
)
