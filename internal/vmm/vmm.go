// Package vmm defines the interface between the node agent and the virtual
// machine monitors that run instances (QEMU's microvm machine, Firecracker).
//
// The shape follows Nomad's task drivers: Start, Wait, Stop, Destroy and
// Recover. Recover is what lets a restarted node agent re-attach to VMs that
// kept running while it was down; a driver must never kill VMs on its own
// start-up.
package vmm

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an instance the driver does not know.
var ErrNotFound = errors.New("vm not found")

// Spec describes one microVM to boot.
type Spec struct {
	// ID names the VM; unique on the node. It names the VM's state directory.
	ID string
	// Kernel is an uncompressed vmlinux with a PVH entry note.
	Kernel string
	// Initrd is the initramfs whose /init is the Zeitwork guest init.
	Initrd string
	// RootDisk is this VM's own writable ext4 image (never shared).
	RootDisk string
	// MemoryMiB and VCPUs size the guest.
	MemoryMiB int
	VCPUs     int
	// Network attaches the VM to a tap device. Zero value: no network.
	Network NetworkSpec
	// KernelArgs are appended to the driver's default command line. Never put
	// secrets here: the command line shows in the host's process list.
	KernelArgs string
}

// NetworkSpec is the VM's single network interface.
type NetworkSpec struct {
	// TapName is an existing tap device the VM attaches to.
	TapName string
	// MAC is the guest interface's hardware address.
	MAC string
	// NetNS, when set, is the path of the network namespace that holds the
	// tap device (for example /run/netns/zeitwork); the VMM opens it there.
	NetNS string
}

// Instance is a running (or recovered) VM.
type Instance struct {
	ID  string
	PID int
	// ControlSocket is the host end of the guest's control channel (a unix
	// socket); see package guest/channel for the protocol.
	ControlSocket string
	// LogPath is a file the guest's stdout and stderr are appended to, in the
	// framing of package guest/channel.
	LogPath string
	// ConsolePath holds the kernel console (serial) output.
	ConsolePath string
	StartedAt   time.Time
}

// ExitStatus tells how a VM ended.
type ExitStatus struct {
	// Code is the VMM process's exit code, or -1 if it was killed.
	Code int
	// Err is set when the VMM failed rather than the guest powering off.
	Err error
}

// Driver runs microVMs on this host.
type Driver interface {
	// Name is the driver's name, such as "qemu".
	Name() string
	// Accel reports the acceleration in use: "kvm" or "tcg".
	Accel() string
	// Start boots a VM and returns once the VMM process is running.
	Start(ctx context.Context, spec Spec) (*Instance, error)
	// Wait blocks until the VM exits or ctx ends.
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// Stop ends the VM now (the guest is not asked; do a graceful stop over
	// the control channel first). Stopping a stopped VM is not an error.
	Stop(ctx context.Context, id string) error
	// Destroy stops the VM if needed and removes its state directory.
	Destroy(ctx context.Context, id string) error
	// Recover returns the VMs left running by an earlier agent process, and
	// removes state of VMs that are gone.
	Recover(ctx context.Context) ([]*Instance, error)
}
