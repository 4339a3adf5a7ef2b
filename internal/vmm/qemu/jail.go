package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/vmm"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// Defaults of the jail's configuration (see Config).
const (
	defaultUIDBase      = 900000
	defaultUIDCount     = 4096
	defaultCgroupParent = "zeitwork-vms"
)

// jailRootDir is the empty directory each launcher mounts its private root
// on, inside its own mount namespace (so one directory serves every VM).
var jailRootDir = "/run/zeitwork/jail"

// qemuOverheadMiB is what a VM's memory limit allows beyond guest RAM:
// QEMU's own ~55 MiB, the 32 MiB TCG translation cache, and the page cache
// of the mapped kernel and initramfs and of the log files (reclaimed
// before the limit is hit). Measured: RSS ~244 MiB for a 256 MiB guest.
const qemuOverheadMiB = 160

// qemuThreads bounds QEMU's threads besides its vCPUs: main loop, RCU,
// signal handling and a block I/O pool of up to 64 workers.
const qemuThreads = 96

// jailState is what a VM's jail leaves in its state directory (root's,
// not readable by QEMU), so that a restarted agent knows the uid in use.
type jailState struct {
	UID int `json:"uid"`
}

// allocUID returns the lowest uid of the configured range that no VM of
// this driver uses. The range's first uid is the accelerator probe's.
func (d *Driver) allocUID() (int, error) {
	used := map[int]bool{}
	for _, v := range d.vms {
		used[v.uid] = true
	}
	for uid := d.cfg.UIDBase + 1; uid < d.cfg.UIDBase+d.cfg.UIDCount; uid++ {
		if !used[uid] {
			return uid, nil
		}
	}
	return 0, fmt.Errorf("no free uid in %d-%d: raise Config.UIDCount", d.cfg.UIDBase+1, d.cfg.UIDBase+d.cfg.UIDCount-1)
}

// cgroupName names a VM's cgroup; the probe VM has its own.
func cgroupName(id string) string { return "vm-" + id }

// probeCgroup names the cgroup of the probe VM in dir (".probe-N").
func probeCgroup(dir string) string {
	return "probe" + strings.TrimPrefix(filepath.Base(dir), ".probe")
}

// jailed wraps QEMU's argv in the launcher: QEMU joins the VM's cgroup,
// sees only the VM's own files, and runs as uid with no capabilities.
// extra are the descriptors QEMU inherits (fds 3 on).
func (d *Driver) jailed(spec vmm.Spec, p paths, accel string, uid int, cgroup string, argv []string) (*jail.Spec, error) {
	if err := d.prepareFiles(spec, p, uid); err != nil {
		return nil, err
	}
	dirs, err := d.cgroups.Create(cgroup, jail.Limits{
		MemoryBytes: int64(spec.MemoryMiB+qemuOverheadMiB) << 20,
		CPUs:        spec.VCPUs,
		Pids:        qemuThreads + spec.VCPUs,
	})
	if err != nil {
		return nil, err
	}
	js := &jail.Spec{
		UID: uid, GID: uid, Cgroups: dirs, Root: jailRootDir,
		Binds: d.binds(spec, p, accel), Path: argv[0], Args: argv, Env: []string{},
		// QEMU asks for transparent huge pages on TCG's translation cache
		// and gets them on other buffers; without them an idle VM holds
		// about 2 MiB less, at no measured cost (docs/benchmarks.md).
		NoHugePages: accel == "tcg",
	}
	if d.jailHook != nil {
		d.jailHook(js)
	}
	return js, nil
}

// prepareFiles hands the VM's own files to its uid: the state directory
// (traversable only: the records and sockets in it stay root's), the
// files QEMU opens by name (console and app log) and the root disk. The
// kernel and initramfs are shared and stay root's, so they must be world
// readable.
func (d *Driver) prepareFiles(spec vmm.Spec, p paths, uid int) error {
	for _, f := range []string{spec.Kernel, spec.Initrd} {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o004 == 0 {
			return fmt.Errorf("%s is not readable by the VM's user: make it world-readable (chmod o+r)", f)
		}
	}
	if err := os.Chown(p.dir, 0, uid); err != nil {
		return err
	}
	if err := os.Chmod(p.dir, 0o710); err != nil {
		return err
	}
	for _, f := range []string{p.console, p.log} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return err
		}
	}
	owned := []string{p.console, p.log}
	if spec.RootDisk != "" {
		owned = append(owned, spec.RootDisk)
	}
	for _, f := range owned {
		if err := os.Chown(f, uid, uid); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(jailState{UID: uid})
	return os.WriteFile(p.jail, b, 0o600)
}

// binds lists what QEMU sees: the system's programs and libraries
// read-only, a few device nodes, the kernel and initramfs read-only, and
// the VM's own directory and root disk. Nothing else of the node (other
// VMs' disks, the images, the agent's records and tokens) is there.
func (d *Driver) binds(spec vmm.Spec, p paths, accel string) []jail.Bind {
	b := []jail.Bind{{Path: "/usr"}}
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(top)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(top); err == nil {
				b = append(b, jail.Bind{Path: top, LinkTo: target})
			}
		case fi.IsDir():
			b = append(b, jail.Bind{Path: top})
		}
	}
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		b = append(b, jail.Bind{Path: "/etc/ld.so.cache"})
	}
	if !strings.HasPrefix(d.cfg.QEMUPath, "/usr/") {
		b = append(b, jail.Bind{Path: d.cfg.QEMUPath})
	}
	for _, dev := range []string{"/dev/null", "/dev/zero", "/dev/urandom"} {
		b = append(b, jail.Bind{Path: dev, Writable: true})
	}
	if accel == "kvm" {
		b = append(b, jail.Bind{Path: "/dev/kvm", Device: true})
	}
	b = append(b, jail.Bind{Path: spec.Kernel}, jail.Bind{Path: spec.Initrd},
		jail.Bind{Path: p.dir, Writable: true})
	if spec.RootDisk != "" {
		b = append(b, jail.Bind{Path: spec.RootDisk, Writable: true})
	}
	return b
}

// readJailState returns the uid recorded for a VM, or 0 for a VM started
// before jails (adopted all the same).
func readJailState(p paths) int {
	b, err := os.ReadFile(p.jail)
	if err != nil {
		return 0
	}
	var js jailState
	if json.Unmarshal(b, &js) != nil {
		return 0
	}
	return js.UID
}

// release removes what a VM's jail holds on the host once its QEMU is
// gone. It is idempotent.
func (d *Driver) release(id string) {
	if err := d.cgroups.Remove(context.Background(), cgroupName(id)); err != nil {
		d.log.Warn("vm cgroup left behind", "instance", id, "err", err)
	}
}

// sandboxOpt turns on QEMU's seccomp filter: no obsolete system calls, no
// set*id, no fork or exec, no changes to scheduling or resource limits.
const sandboxOpt = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

// jailDirs makes sure the launchers' mount point exists.
func jailDirs() error {
	if err := os.MkdirAll(jailRootDir, 0o755); err != nil {
		return fmt.Errorf("jail root: %w", err)
	}
	return nil
}
