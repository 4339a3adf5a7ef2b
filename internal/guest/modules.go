package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// parseOrder reads the module order file: one file name per line, blank
// lines and comments ignored. Names may not leave the modules directory.
func parseOrder(data string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "/") || line == ".." {
			return nil, fmt.Errorf("module order: bad entry %q", line)
		}
		out = append(out, line)
	}
	return out, nil
}

// loadModules inserts the modules of the initramfs in the order the builder
// wrote, those for which load(name) is true. A module that is already
// loaded (or built in) is fine.
func loadModules(dir, orderFile string, load func(name string) bool) error {
	data, err := os.ReadFile(orderFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a kernel with everything built in
	}
	if err != nil {
		return fmt.Errorf("load modules: %w", err)
	}
	names, err := parseOrder(string(data))
	if err != nil {
		return fmt.Errorf("load modules: %w", err)
	}
	for _, n := range names {
		if !load(n) {
			continue
		}
		if err := loadModule(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load module %s: %w", path, err)
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", filepath.Base(path), err)
	}
	return nil
}

// allModules loads every module of the initramfs at boot. The block
// driver among them holds an empty disk in a template (see awaitDisk).
func allModules(string) bool { return true }
