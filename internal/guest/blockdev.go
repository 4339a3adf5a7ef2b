package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The block driver is loaded at boot, before a template is saved, but
// holds no disk while the init waits for its Config: releaseDisks unbinds
// it from every virtio block device (which drops the gendisk, its size and
// its page cache), and bindDisks binds it again once the Config has come,
// when the device reads the instance's own disk. Binding is a probe;
// loading the module after a restore would also relocate it and resolve
// its symbols, which under TCG is most of the cost.
const virtioBlkDriver = "/sys/bus/virtio/drivers/virtio_blk"

// releaseDisks unbinds the virtio block driver from its devices and
// returns their names. Without the driver (built in elsewhere, or no
// disk) there is nothing to do.
func releaseDisks(driverDir string) ([]string, error) {
	devs, err := boundDevices(driverDir)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		if err := os.WriteFile(filepath.Join(driverDir, "unbind"), []byte(d), 0); err != nil {
			return nil, fmt.Errorf("release disk %s: %w", d, err)
		}
	}
	return devs, nil
}

// bindDisks binds the virtio block driver to devs again. A device still
// bound (EBUSY) is an error: it would be the template's disk.
func bindDisks(driverDir string, devs []string) error {
	for _, d := range devs {
		if err := os.WriteFile(filepath.Join(driverDir, "bind"), []byte(d), 0); err != nil {
			return fmt.Errorf("bind disk %s: %w", d, err)
		}
	}
	return nil
}

// boundDevices lists the devices bound to the driver (links such as
// "virtio1" in its sysfs directory).
func boundDevices(driverDir string) ([]string, error) {
	entries, err := os.ReadDir(driverDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var devs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "virtio") && e.Type()&os.ModeSymlink != 0 {
			devs = append(devs, e.Name())
		}
	}
	return devs, nil
}
