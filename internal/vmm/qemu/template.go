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

// Templates are saved with QEMU's migration: the VM is paused while its
// init waits for its Config and migrated to a descriptor on the
// template's state file; an instance is a QEMU started with the same
// machine and devices, its own root disk and tap in place of the
// template's, loading that state. Descriptors, not "exec:cat", because
// QEMU's seccomp filter forbids it to spawn processes.
//
// Where the host can seal memfds (see memfd.go), the template's guest
// memory is a file of its own ("memory", written through a shared
// mapping) and the state holds only the devices (x-ignore-shared);
// instances map the memory copy-on-write from a sealed memfd, so they
// share the template's untouched pages. Elsewhere the state is the full
// migration stream and each instance loads the memory into its own. See
// docs/design.md, "VM templates".

// templateFormat changes whenever the layout of templates changes, to
// retire every template saved before.
const templateFormat = "qemu-template-3"

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
	templateState  = "state"
	templateMemory = "memory"
	templateMeta   = "template.json"
)

// templateMetaFile is written last: a template without it is incomplete.
// Memory is the size of the shared memory file (0: the state holds the
// memory), MemorySHA256 its checksum, checked when it is loaded.
type templateMetaFile struct {
	Key          string `json:"key"`
	Bytes        int64  `json:"bytes"`
	Memory       int64  `json:"memory,omitempty"`
	MemorySHA256 string `json:"memory_sha256,omitempty"`
}

// launchMode is how a QEMU relates to a template: being one (template;
// memPath is its shared memory file, if any), restoring one (incoming is
// its state, or memory its sealed memory, whose state then arrives over
// QMP), or neither.
type launchMode struct {
	template bool
	memPath  string
	incoming *os.File
	memory   *os.File
}

// args are QEMU's extra arguments; inFD is the descriptor of incoming.
func (m launchMode) args(inFD int) []string {
	if m.memory != nil {
		// The state follows over QMP, after x-ignore-shared is set: QEMU
		// 7.2 has no command-line switch for migration capabilities.
		return []string{"-incoming", "defer"}
	}
	if m.incoming != nil {
		return []string{"-incoming", "fd:" + strconv.Itoa(inFD)}
	}
	// The template's NIC sits where an instance's does (last), on a hub
	// port that leads nowhere: the device state is what is saved.
	return []string{
		"-netdev", "hubport,id=net0,hubid=0",
		"-device", "virtio-net-device,netdev=net0,mac=" + templateMAC,
	}
}

// memoryBackend is the guest RAM's -object when it is not the default
// memfd: the template writes its memory file through a shared mapping; a
// restored VM maps the sealed memfd (descriptor memFD) privately.
func (m launchMode) memoryBackend(memMiB, memFD int) string {
	base := "memory-backend-file,id=ram,size=" + strconv.Itoa(memMiB) + "M,"
	switch {
	case m.memory != nil:
		return base + "mem-path=/proc/self/fd/" + strconv.Itoa(memFD) + ",share=off"
	case m.memPath != "":
		return base + "mem-path=" + m.memPath + ",share=on"
	}
	return ""
}

// withMemoryBackend replaces the guest RAM object of args by obj.
func withMemoryBackend(args []string, obj string) []string {
	if obj == "" {
		return args
	}
	for i := 1; i < len(args); i++ {
		if args[i-1] == "-object" && strings.HasPrefix(args[i], "memory-backend-memfd,id=ram,") {
			args[i] = obj
		}
	}
	return args
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
	args := qemuArgs(shape, vmPaths("/s", "/s/t"), accel, d.cfg.TCGCacheMiB, cmdline(accel, d.tscKHz, spec.KernelArgs))
	mode := launchMode{template: true}
	if d.sharedMemory {
		mode.memPath = "/s/t/" + templateMemory
	}
	args = withMemoryBackend(args, mode.memoryBackend(spec.MemoryMiB, 0))
	args = append(args, mode.args(0)...)
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
