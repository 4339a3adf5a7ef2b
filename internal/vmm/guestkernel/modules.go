package guestkernel

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// NeededModules are the drivers the guest needs that Debian's cloud kernel
// builds as modules: the virtio-mmio transport of QEMU's microvm (and
// Firecracker), the root disk, the network and the virtio-serial ports;
// and tcp_diag, with which the init cheaply notices the app listening.
var NeededModules = []string{"virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "tcp_diag"}

// moduleName normalises a module or file name the way the kernel does:
// without directory and extension, dashes as underscores.
func moduleName(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// indexModules maps module names to their .ko paths under dir.
func indexModules(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".ko") {
			idx[moduleName(path)] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", dir, err)
	}
	return idx, nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: read .modinfo: %w", path, err)
	}
	return parseDepends(data), nil
}

// parseDepends extracts the dependencies from a .modinfo section: NUL
// separated key=value strings, dependencies comma separated.
func parseDepends(modinfo []byte) []string {
	var deps []string
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		for _, d := range strings.Split(string(v), ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, moduleName(d))
			}
		}
	}
	return deps
}

// loadOrder returns the modules to load, dependencies first, for the given
// roots. deps returns a module's direct dependencies. Cycles are an error:
// the kernel could not load such modules either.
func loadOrder(roots []string, deps func(string) ([]string, error)) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle at %s", name)
		}
		state[name] = visiting
		ds, err := deps(name)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// resolveModules finds the .ko files for roots and their dependencies under
// modDir, in load order.
func resolveModules(modDir string, roots []string) ([]string, error) {
	idx, err := indexModules(modDir)
	if err != nil {
		return nil, err
	}
	names, err := loadOrder(roots, func(name string) ([]string, error) {
		path, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("module %s not found in %s", name, modDir)
		}
		return moduleDepends(path)
	})
	if err != nil {
		return nil, fmt.Errorf("resolve modules: %w", err)
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = idx[n]
	}
	return paths, nil
}
