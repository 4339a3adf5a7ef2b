package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The block driver (virtio_blk) is loaded at boot and stays bound to the
// root disk's device. In a template that device is an empty placeholder
// of zero bytes, so the saved kernel holds no size and no page of any
// disk; a VM restored from it has its own disk behind the same device, and
// the host then announces the disk's size (a configuration change of the
// device, which the driver reads). So after the Config the init waits for
// the root disk to have a size before it mounts it, instead of binding
// the driver again: a probe, after a restore, is a long kernel path that
// TCG translates anew (measured: about 50 ms of a restored instance's
// start). A cold-booted VM's disk has its size from the start.

// sysBlockDir is where the kernel lists block devices and their sizes.
var sysBlockDir = "/sys/block"

// diskPoll is the interval at which the init looks for the disk's size.
const diskPoll = time.Millisecond

// awaitDisk waits until the block device (e.g. /dev/vda) exists and has a
// non-zero size, and then drops whatever its page cache holds, so that
// nothing read before the disk was the instance's survives.
func awaitDisk(device string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := waitFile(device, timeout); err != nil {
		return err
	}
	if err := awaitDiskSize(filepath.Base(device), deadline); err != nil {
		return err
	}
	return flushDisk(device)
}

// awaitDiskSize polls the size (in 512-byte sectors) sysfs shows for the
// disk name until it is not zero or the deadline passes.
func awaitDiskSize(name string, deadline time.Time) error {
	p := filepath.Join(sysBlockDir, name, "size")
	for {
		n, err := diskSectors(p)
		if err == nil && n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("it has no size (the host did not announce it)")
			}
			return fmt.Errorf("root disk %s: %w", name, err)
		}
		time.Sleep(diskPoll)
	}
}

// diskSectors reads a sysfs size file.
func diskSectors(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", b, err)
	}
	return n, nil
}

// flushDisk drops the device's clean cached pages (BLKFLSBUF).
func flushDisk(device string) error {
	f, err := os.Open(device)
	if err != nil {
		return fmt.Errorf("flush disk: %w", err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0); err != nil {
		return fmt.Errorf("flush disk %s: %w", device, err)
	}
	return nil
}
