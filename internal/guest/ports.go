package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// findPorts maps virtio-serial port names to their device nodes, reading
// sysDir/class/virtio-ports/<dev>/name (devDir/<dev> is the node).
func findPorts(sysDir, devDir string) (map[string]string, error) {
	dirs, err := filepath.Glob(filepath.Join(sysDir, "class", "virtio-ports", "*"))
	if err != nil {
		return nil, fmt.Errorf("find virtio ports: %w", err)
	}
	ports := map[string]string{}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "name"))
		if err != nil {
			continue // a port without a name (yet)
		}
		if name := strings.TrimSpace(string(b)); name != "" {
			ports[name] = filepath.Join(devDir, filepath.Base(d))
		}
	}
	return ports, nil
}

// waitPorts polls until every named port exists with its device node: the
// host announces ports over the virtio-console control queue after the
// driver loads, so they appear shortly after the module.
func waitPorts(names []string, timeout time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ports, err := findPorts("/sys", "/dev")
		if err != nil {
			return nil, err
		}
		missing := ""
		for _, n := range names {
			if p, ok := ports[n]; !ok {
				missing = n
			} else if _, err := os.Stat(p); err != nil {
				missing = n
			}
		}
		if missing == "" {
			return ports, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("virtio port %q did not appear within %s", missing, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitFile polls for a device node such as the root disk.
func waitFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
