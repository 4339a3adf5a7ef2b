package guestkernel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// metaPackage is Debian's package that always depends on the current cloud
// kernel; it is resolved, never installed.
const metaPackage = "linux-image-cloud-amd64"

// Fetch makes sure Debian's cloud kernel is unpacked under cacheDir and
// returns the kernel version (such as "6.1.0-56-cloud-amd64"). The package is
// downloaded with apt-get and unpacked with dpkg-deb, never installed on the
// host. When apt does not answer (no network, not Debian) the newest version
// already in the cache is used.
func Fetch(ctx context.Context, cacheDir string) (string, error) {
	pkg, err := resolvePackage(ctx)
	if err != nil {
		if v := newestCached(cacheDir); v != "" {
			return v, nil
		}
		return "", err
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	if _, err := os.Stat(filepath.Join(treeDir(cacheDir, version), "boot")); err == nil {
		return version, nil
	}
	if err := download(ctx, cacheDir, pkg, version); err != nil {
		// Stale package lists name files the mirror no longer has: refresh
		// them once and resolve again.
		if uerr := aptUpdate(ctx); uerr != nil {
			return "", fmt.Errorf("%w (and %w)", err, uerr)
		}
		if pkg, err = dependsOf(ctx, metaPackage); err != nil {
			return "", err
		}
		version = strings.TrimPrefix(pkg, "linux-image-")
		if err := download(ctx, cacheDir, pkg, version); err != nil {
			return "", err
		}
	}
	return version, nil
}

func aptUpdate(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, lastLine(out))
	}
	return nil
}

// treeDir is where a kernel package is unpacked.
func treeDir(cacheDir, version string) string {
	return filepath.Join(cacheDir, version, "pkg")
}

// resolvePackage finds the versioned kernel package the meta package points
// at, refreshing apt's lists once if it knows nothing yet.
func resolvePackage(ctx context.Context) (string, error) {
	pkg, err := dependsOf(ctx, metaPackage)
	if err == nil {
		return pkg, nil
	}
	if uerr := aptUpdate(ctx); uerr != nil {
		return "", fmt.Errorf("resolve %s: %w", metaPackage, uerr)
	}
	return dependsOf(ctx, metaPackage)
}

func dependsOf(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w: %s", pkg, err, lastLine(out))
	}
	if dep := parseDepends1(out, "linux-image-"); dep != "" {
		return dep, nil
	}
	return "", fmt.Errorf("apt-cache depends %s: no linux-image dependency", pkg)
}

// parseDepends1 returns the first "Depends:" target of apt-cache output that
// starts with prefix.
func parseDepends1(out []byte, prefix string) string {
	for _, line := range strings.Split(string(out), "\n") {
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
		if ok && strings.HasPrefix(dep, prefix) {
			return strings.TrimSpace(dep)
		}
	}
	return ""
}

// download fetches and unpacks pkg into the cache. It unpacks into a
// temporary directory renamed into place, so a crash never leaves a half
// tree that later runs would trust.
func download(ctx context.Context, cacheDir, pkg, version string) error {
	dir := filepath.Join(cacheDir, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", pkg, err)
	}
	tmp, err := os.MkdirTemp(dir, "fetch-")
	if err != nil {
		return fmt.Errorf("download %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	// apt's sandbox user cannot write into root's directories; download as
	// root explicitly rather than warn on every run.
	get := exec.CommandContext(ctx, "apt-get", "-o", "APT::Sandbox::User=root", "download", pkg)
	get.Dir = tmp
	if out, err := get.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %w: %s", pkg, err, lastLine(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s: expected one .deb, found %d", pkg, len(debs))
	}
	tree := filepath.Join(tmp, "pkg")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], tree).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w: %s", debs[0], err, lastLine(out))
	}
	return renameUnlessExists(tree, treeDir(cacheDir, version))
}

// newestCached returns the highest kernel version already unpacked in
// cacheDir, or "".
func newestCached(cacheDir string) string {
	trees, _ := filepath.Glob(filepath.Join(cacheDir, "*", "pkg", "boot"))
	sort.Strings(trees)
	if len(trees) == 0 {
		return ""
	}
	return filepath.Base(filepath.Dir(filepath.Dir(trees[len(trees)-1])))
}

func lastLine(out []byte) string {
	out = bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return string(out)
}

// renameUnlessExists moves src to dst; if another process got there first,
// its copy wins and src is left for the caller to clean up.
func renameUnlessExists(src, dst string) error {
	err := os.Rename(src, dst)
	if err == nil {
		return nil
	}
	if _, serr := os.Stat(dst); serr == nil {
		return nil
	}
	return fmt.Errorf("rename %s: %w", dst, err)
}
