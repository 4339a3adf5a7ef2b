package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// probeDeadline bounds the KVM probe boot. A working KVM reaches the init's
// hello in well under a second; on a PVM host a stock kernel hangs forever.
// It is no bound for a TCG boot, which takes seconds more on a busy host:
// TCG always works and is never probed.
const probeDeadline = 5 * time.Second

// accelCache is the probe's result, valid for one host kernel and one guest
// kernel file.
type accelCache struct {
	HostKernel  string `json:"host_kernel"`
	GuestKernel string `json:"guest_kernel"`
	Accel       string `json:"accel"`
}

// Probe decides the accelerator (once per driver, cached on disk across
// agent restarts) and returns it. With Config.Accel "kvm" or "tcg" it just
// returns that. In "auto" it boots the given kernel and initrd with KVM and
// the init's probe argument: only a guest that says hello within
// probeDeadline proves KVM works, since /dev/kvm may be a backend (PVM)
// that stock kernels hang on.
func (d *Driver) Probe(ctx context.Context, kernel, initrd string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock() // one probe at a time; Starts wait for it
	if d.accel != "" {
		return d.accel, nil
	}
	key := accelCache{HostKernel: hostRelease(), GuestKernel: fileKey(kernel)}
	cachePath := filepath.Join(d.cfg.StateDir, "accel.json")
	if c, err := readAccelCache(cachePath); err == nil && c.HostKernel == key.HostKernel && c.GuestKernel == key.GuestKernel {
		d.accel = c.Accel
		d.log.Info("accelerator chosen", "accel", d.accel, "source", "cache")
		return d.accel, nil
	}
	accel, reason := "tcg", ""
	if err := kvmUsable(); err != nil {
		reason = err.Error()
	} else if err := d.probeBoot(ctx, kernel, initrd, "kvm", probeDeadline); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("probe accel: %w", ctx.Err())
		}
		reason = "kvm probe boot failed: " + err.Error()
	} else {
		accel = "kvm"
	}
	d.accel = accel
	key.Accel = accel
	if b, err := json.Marshal(key); err == nil {
		os.WriteFile(cachePath, b, 0o600)
	}
	d.log.Info("accelerator chosen", "accel", accel, "source", "probe", "reason", reason)
	return accel, nil
}

func kvmUsable() error {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kvm: %w", err)
	}
	unix.Close(fd)
	return nil
}

// probeBoot boots a throwaway VM with accel and waits for the init's hello,
// for at most deadline from the moment QEMU runs.
func (d *Driver) probeBoot(ctx context.Context, kernel, initrd, accel string, deadline time.Duration) error {
	dir, err := os.MkdirTemp(d.cfg.StateDir, ".probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	spec := vmm.Spec{ID: "probe", Kernel: kernel, Initrd: initrd, MemoryMiB: 128, VCPUs: 1, KernelArgs: guest.ProbeArg}
	p := vmPaths(d.sockRoot, dir)
	defer d.cgroups.Remove(context.Background(), probeCgroup(dir))
	cmd, err := d.command(ctx, spec, p, accel, d.cfg.UIDBase, probeCgroup(dir), launchMode{})
	if err != nil {
		return err
	}
	err = cmd.Start()
	closeExtraFiles(cmd)
	if err != nil {
		return fmt.Errorf("run qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	hello := make(chan error, 1)
	go func() { hello <- awaitHello(ctx, p.control, deadline) }()
	select {
	case err := <-hello:
		return err
	case err := <-exited:
		exited <- err // for the deferred reap
		return fmt.Errorf("qemu exited before hello (%v)%s", err, stderrTail(p.stderr))
	}
}

func awaitHello(ctx context.Context, socket string, deadline time.Duration) error {
	c, err := channel.Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for {
		m, err := c.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("no hello within %s", deadline)
			}
			return err
		}
		if m.Kind == channel.KindHello {
			return nil
		}
	}
}

func readAccelCache(path string) (accelCache, error) {
	var c accelCache
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if c.Accel != "kvm" && c.Accel != "tcg" {
		return c, errors.New("bad accel cache")
	}
	return c, nil
}

func hostRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// fileKey identifies a kernel file by path, size and modification time.
func fileKey(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return path
	}
	return fmt.Sprintf("%s:%d:%d", path, st.Size(), st.ModTime().UnixNano())
}

func hostTSCKHz() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseCPUKHz(f)
}
