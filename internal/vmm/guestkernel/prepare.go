// Package guestkernel prepares what every microVM boots: Debian's cloud
// kernel as an uncompressed vmlinux with a PVH entry (what QEMU's microvm
// boots fastest and what Firecracker requires), and an initramfs holding the
// Zeitwork guest init and the virtio modules the kernel does not build in.
//
// The kernel package is fetched with apt-get and unpacked, never installed;
// everything is cached under one directory and rebuilt only when its inputs
// change.
package guestkernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest"
)

// DefaultCacheDir is where the node agent and the tests keep kernels, so
// that a machine fetches and unpacks a kernel once.
const DefaultCacheDir = "/var/cache/zeitwork/kernel"

// Kernel is a prepared guest kernel and initramfs.
type Kernel struct {
	// Vmlinux is the uncompressed ELF kernel with a PVH entry note.
	Vmlinux string
	// Initrd is an uncompressed newc cpio archive.
	Initrd string
	// Version is the kernel release, such as "6.1.0-56-cloud-amd64".
	Version string
}

// Prepare fetches the kernel if needed, extracts its vmlinux once, and builds
// an initramfs for initBinary (cached by the binary's hash). It is safe to
// call from several processes at once.
func Prepare(ctx context.Context, cacheDir, initBinary string) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("prepare kernel: %w", err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("prepare kernel: %w", err)
	}
	defer unlock()

	version, err := Fetch(ctx, cacheDir)
	if err != nil {
		return nil, fmt.Errorf("prepare kernel: %w", err)
	}
	k := &Kernel{Version: version}
	if k.Vmlinux, err = ensureVmlinux(cacheDir, version); err != nil {
		return nil, fmt.Errorf("prepare kernel %s: %w", version, err)
	}
	if k.Initrd, err = ensureInitrd(cacheDir, version, initBinary); err != nil {
		return nil, fmt.Errorf("prepare kernel %s: %w", version, err)
	}
	return k, nil
}

// lockDir takes an exclusive flock on dir/.lock: two agents or test binaries
// preparing at once must not interleave their writes.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

func ensureVmlinux(cacheDir, version string) (string, error) {
	out := filepath.Join(cacheDir, version, "vmlinux")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	bz, err := os.ReadFile(filepath.Join(treeDir(cacheDir, version), "boot", "vmlinuz-"+version))
	if err != nil {
		return "", fmt.Errorf("read bzImage: %w", err)
	}
	vmlinux, err := extractVmlinux(bz)
	if err != nil {
		return "", err
	}
	return out, writeAtomic(out, vmlinux, 0o644)
}

func ensureInitrd(cacheDir, version, initBinary string) (string, error) {
	init, err := os.ReadFile(initBinary)
	if err != nil {
		return "", fmt.Errorf("read init binary: %w", err)
	}
	modDir := filepath.Join(treeDir(cacheDir, version), "lib", "modules", version)
	mods, err := resolveModules(modDir, NeededModules)
	if err != nil {
		return "", err
	}
	key := initrdKey(init, mods)
	out := filepath.Join(cacheDir, version, "initrd-"+key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	var buf bytes.Buffer
	if err := writeInitrd(&buf, init, mods); err != nil {
		return "", err
	}
	return out, writeAtomic(out, buf.Bytes(), 0o644)
}

// initrdKey names an initramfs by its inputs: the init binary and the set of
// modules.
func initrdKey(init []byte, mods []string) string {
	h := sha256.New()
	h.Write(init)
	for _, m := range mods {
		h.Write([]byte(filepath.Base(m) + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// writeInitrd writes the initramfs: /init, /dev/console (so the kernel can
// give the init its stdio), the mount points, and the modules with their
// load order.
func writeInitrd(buf *bytes.Buffer, init []byte, mods []string) error {
	c := newCPIOWriter(buf)
	for _, d := range []string{"dev", "proc", "sys", "run", strings.TrimPrefix(guest.NewRoot, "/"), strings.TrimPrefix(guest.ModulesDir, "/")} {
		if err := c.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := c.File("init", 0o755, init); err != nil {
		return err
	}
	var order strings.Builder
	for _, m := range mods {
		data, err := os.ReadFile(m)
		if err != nil {
			return fmt.Errorf("read module: %w", err)
		}
		name := filepath.Base(m)
		if err := c.File(strings.TrimPrefix(guest.ModulesDir, "/")+"/"+name, 0o644, data); err != nil {
			return err
		}
		order.WriteString(name + "\n")
	}
	if err := c.File(strings.TrimPrefix(guest.ModulesOrderFile, "/"), 0o644, []byte(order.String())); err != nil {
		return err
	}
	return c.Close()
}

// writeAtomic writes a file under a temporary name and renames it, so that
// readers never see a partial kernel or initramfs.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
