package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// Templates are QEMU migration streams written to a file: the VM is paused
// while its init waits for its Config and migrated to a descriptor on the
// template's state file; an instance is a QEMU started with the same
// machine and devices and "-incoming" on that file, with its own root
// disk and tap in place of the template's. Descriptors, not "exec:cat",
// because QEMU's seccomp filter forbids it to spawn processes.
//
// The guest memory is loaded into each instance's own memfd rather than
// mapped copy-on-write from a shared file: QEMU 7.2 opens a file-backed
// memory's file read-write even when it maps it privately, so a shared
// template file would be writable by every instance's (jailed) QEMU, and
// one escaped guest could change the memory of all later instances. See
// docs/design.md, "VM templates".

// templateFormat changes whenever the layout of templates changes, to
// retire every template saved before.
const templateFormat = "qemu-template-1"

// templateMAC is the template's NIC address; each instance's guest init
// sets its own from the Config.
const templateMAC = "52:54:00:00:00:01"

// Deadlines of a template build and of a restore. A build runs in the
// background, so on a busy host it may take minutes.
const (
	templateBootDeadline = 5 * time.Minute
	restoreDeadline      = 30 * time.Second
)

// Files of a template directory.
const (
	templateState = "state"
	templateMeta  = "template.json"
)

// templateMetaFile is written last: a template without it is incomplete.
type templateMetaFile struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// launchMode is how a QEMU relates to a template: being one (template),
// restoring one (incoming is its state), or neither.
type launchMode struct {
	template bool
	incoming *os.File
}

// args are QEMU's extra arguments; fd is the descriptor of incoming.
func (m launchMode) args(fd int) []string {
	if m.incoming != nil {
		return []string{"-incoming", "fd:" + strconv.Itoa(fd)}
	}
	// The template's NIC sits where an instance's does (last), on a hub
	// port that leads nowhere: the device state is what is saved.
	return []string{
		"-netdev", "hubport,id=net0,hubid=0",
		"-device", "virtio-net-device,netdev=net0,mac=" + templateMAC,
	}
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// TemplateKey implements vmm.Snapshotter: the kernel's and initramfs's
// contents (the initramfs holds the guest init), the QEMU binary, the
// accelerator and the full argument list of a template VM.
func (d *Driver) TemplateKey(ctx context.Context, spec vmm.Spec) (string, error) {
	accel, err := d.Probe(ctx, spec.Kernel, spec.Initrd)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", templateFormat, accel)
	for _, f := range []string{spec.Kernel, spec.Initrd} {
		sum, err := d.digests.of(f)
		if err != nil {
			return "", fmt.Errorf("template key: %w", err)
		}
		fmt.Fprintf(h, "%s\n", sum)
	}
	fmt.Fprintf(h, "%s\n", fileKey(d.cfg.QEMUPath))
	shape := vmm.Spec{Kernel: "K", Initrd: "I", RootDisk: "D", MemoryMiB: spec.MemoryMiB, VCPUs: spec.VCPUs, KernelArgs: spec.KernelArgs}
	args := qemuArgs(shape, vmPaths("/s", "/s/t"), accel, cmdline(accel, d.tscKHz, spec.KernelArgs))
	args = append(args, launchMode{template: true}.args(0)...)
	fmt.Fprintf(h, "%s\n", strings.Join(args, "\x00"))
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// fileDigests caches the SHA-256 of files by path, size and mtime: the
// kernel is tens of MiB and keys are asked for on every instance start.
type fileDigests struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *fileDigests) of(path string) (string, error) {
	key := fileKey(path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sum, ok := c.m[key]; ok {
		return sum, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[key] = hex.EncodeToString(h.Sum(nil))
	return c.m[key], nil
}

// readTemplateMeta returns a complete template's record.
func readTemplateMeta(dir string) (templateMetaFile, error) {
	var m templateMetaFile
	b, err := os.ReadFile(filepath.Join(dir, templateMeta))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("template %s: %w", dir, err)
	}
	return m, nil
}
