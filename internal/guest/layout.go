package guest

// The initramfs layout shared by the guest init and the host code that
// builds the initramfs (package vmm/guestkernel).
const (
	// ModulesDir holds the kernel modules the init loads.
	ModulesDir = "/modules"
	// ModulesOrderFile lists the files in ModulesDir, one per line, in the
	// order they must be loaded (dependencies first).
	ModulesOrderFile = ModulesDir + "/order"
	// NewRoot is where the root disk is mounted before switching into it.
	NewRoot = "/newroot"
	// ProbeArg on the kernel command line makes the init say hello on the
	// control port and power off at once: the VMM uses it to find out
	// whether an accelerator really runs a guest.
	ProbeArg = "zeitwork.probe=1"
)
