package vmm

import "context"

// Snapshotter is the optional capability of a driver that can save a VM
// and start others from the copy: callers check for it with a type
// assertion, and a driver without it (or a future Firecracker driver,
// whose snapshot API differs) still works, by booting every VM.
//
// A template is a VM of one kernel, initramfs and shape, saved while its
// guest init waits for its Config, before it has touched any root disk or
// network: everything that makes an instance itself arrives afterwards in
// the Config (see package guest/channel). The caller chooses where
// templates live and when to build them.
type Snapshotter interface {
	// TemplateKey names the template spec's VM can be restored from: a
	// hash of everything that went into it (kernel, initramfs, VMM build,
	// machine arguments, memory and vCPUs). A template saved under another
	// key must not be used for spec.
	TemplateKey(ctx context.Context, spec Spec) (string, error)
	// BuildTemplate boots a VM of spec's kernel, initramfs and shape (its
	// ID, RootDisk and Network are ignored) until the guest init waits
	// for its Config, saves it to dir (created; it must not exist), and
	// stops it.
	BuildTemplate(ctx context.Context, spec Spec, dir string) error
	// Restore starts spec's VM from the template in dir, with spec's own
	// root disk and network; it returns once the guest runs and waits for
	// its Config, which the caller then sends as after Start (with
	// Network.MAC set: the guest starts with the template's). An error
	// leaves no VM behind: the caller boots it with Start instead.
	Restore(ctx context.Context, spec Spec, dir string) (*Instance, error)
}
