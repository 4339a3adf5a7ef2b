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

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// BuildTemplate implements vmm.Snapshotter. The template VM runs in a
// ".probe-" directory, so that Recover kills it should the agent die
// mid-build; its root disk is an empty placeholder, of zero bytes: the
// guest's block driver is bound to it but has nothing to read or cache,
// and an instance's disk takes its place behind the same device (see
// announceDisk).
func (d *Driver) BuildTemplate(ctx context.Context, spec vmm.Spec, dir string) error {
	spec.ID, spec.Network = "template", vmm.NetworkSpec{}
	if err := validate(spec); err != nil {
		return err
	}
	accel, err := d.Probe(ctx, spec.Kernel, spec.Initrd)
	if err != nil {
		return err
	}
	key, err := d.TemplateKey(ctx, spec)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("build template: %s exists", dir)
	}
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	defer os.RemoveAll(tmp)
	meta, err := d.saveTemplate(ctx, spec, accel, tmp)
	if err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	meta.Key = key
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(tmp, templateMeta), b, 0o600); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	if meta.Memory > 0 {
		// Load its memory now, in the background build, rather than in
		// the first restore.
		if _, err := d.memories.get(dir, meta); err != nil {
			d.log.Warn("load template memory", "dir", dir, "err", err)
		}
	}
	d.log.Info("vm template saved", "dir", dir, "bytes", meta.Bytes, "shared_memory_bytes", meta.Memory)
	return nil
}

// saveTemplate boots the template VM, waits for its init's hello (it then
// waits for the Config), pauses it and migrates it into the directory
// tmp: the state, and with shared memory the guest memory file, which the
// VM wrote through a shared mapping in its own directory.
func (d *Driver) saveTemplate(ctx context.Context, spec vmm.Spec, accel, tmp string) (templateMetaFile, error) {
	var meta templateMetaFile
	ctx, cancel := context.WithTimeout(ctx, templateBootDeadline)
	defer cancel()
	vmdir, err := os.MkdirTemp(d.cfg.StateDir, ".probe-template-")
	if err != nil {
		return meta, err
	}
	defer os.RemoveAll(vmdir)
	defer d.cgroups.Remove(context.Background(), probeCgroup(vmdir))
	spec.RootDisk = filepath.Join(vmdir, "placeholder.img")
	if err := os.WriteFile(spec.RootDisk, nil, 0o600); err != nil {
		return meta, err
	}
	mode := launchMode{template: true}
	if d.sharedMemory {
		// QEMU cannot create files in its directory: the memory file is
		// made here, empty, and QEMU sizes it.
		mode.memPath = filepath.Join(vmdir, templateMemory)
		if err := os.WriteFile(mode.memPath, nil, 0o600); err != nil {
			return meta, err
		}
		if err := os.Chown(mode.memPath, d.cfg.UIDBase, d.cfg.UIDBase); err != nil {
			return meta, err
		}
	}
	out, err := os.OpenFile(filepath.Join(tmp, templateState), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return meta, err
	}
	defer out.Close()
	p := vmPaths(d.sockRoot, vmdir)
	cmd, err := d.command(ctx, spec, p, accel, d.cfg.UIDBase, probeCgroup(vmdir), mode)
	if err != nil {
		return meta, err
	}
	err = cmd.Start()
	closeExtraFiles(cmd)
	if err != nil {
		return meta, fmt.Errorf("run qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	hello := make(chan error, 1)
	go func() { hello <- awaitHello(ctx, p.control, templateBootDeadline) }()
	select {
	case err := <-hello:
		if err != nil {
			return meta, fmt.Errorf("template vm: %w%s", err, stderrTail(p.stderr))
		}
	case err := <-exited:
		exited <- err
		return meta, fmt.Errorf("template vm exited before hello (%v)%s", err, stderrTail(p.stderr))
	}
	if err := migrateOut(ctx, p.qmp, out, mode.memPath != ""); err != nil {
		return meta, fmt.Errorf("%w%s", err, stderrTail(p.stderr))
	}
	if err := out.Sync(); err != nil {
		return meta, err
	}
	st, err := out.Stat()
	if err != nil {
		return meta, err
	}
	meta.Bytes = st.Size()
	if mode.memPath != "" {
		// The VM is paused for good: its memory file no longer changes.
		if err := keepMemory(mode.memPath, filepath.Join(tmp, templateMemory), &meta); err != nil {
			return meta, err
		}
	}
	return meta, nil
}

// keepMemory moves the template VM's memory file into the template, root's
// alone, and records its size and checksum.
func keepMemory(from, to string, meta *templateMetaFile) error {
	err := os.Rename(from, to)
	if errors.Is(err, unix.EXDEV) {
		err = copySparse(from, to)
	}
	if err != nil {
		return fmt.Errorf("keep template memory: %w", err)
	}
	if err := os.Chown(to, 0, 0); err != nil {
		return err
	}
	if err := os.Chmod(to, 0o600); err != nil {
		return err
	}
	st, err := os.Stat(to)
	if err != nil {
		return err
	}
	sum, err := fileSHA256(to)
	if err != nil {
		return fmt.Errorf("keep template memory: %w", err)
	}
	meta.Memory, meta.MemorySHA256 = st.Size(), sum
	return nil
}

// migrateOut pauses the VM and writes its state to out, which QEMU gets
// over QMP (QEMU 7.2 migrates only to descriptors named with getfd).
// With ignoreShared, the guest memory (a shared file) is left out.
func migrateOut(ctx context.Context, qmpPath string, out *os.File, ignoreShared bool) error {
	q, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer q.Close()
	if ignoreShared {
		if err := setIgnoreShared(q); err != nil {
			return fmt.Errorf("save template: %w", err)
		}
	}
	if err := q.sendFD("template", out); err != nil {
		return err
	}
	if err := q.execute("stop"); err != nil {
		return err
	}
	if _, err := q.call("migrate", map[string]any{"uri": "fd:template"}); err != nil {
		return err
	}
	for {
		raw, err := q.call("query-migrate", nil)
		if err != nil {
			return err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		json.Unmarshal(raw, &st)
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("save template: migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("save template: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Restore implements vmm.Snapshotter. The instance's QEMU has the
// template's machine and devices, its own disk and tap behind them, and
// loads the template's state from a descriptor; Restore returns once the
// guest runs. A template saved under another key, an unreadable state or a
// QEMU that fails to load it is an error, and no VM is left.
func (d *Driver) Restore(ctx context.Context, spec vmm.Spec, dir string) (*vmm.Instance, error) {
	if spec.RootDisk == "" || spec.Network.TapName == "" {
		return nil, errors.New("restore vm: a template needs a root disk and a network")
	}
	want, err := d.TemplateKey(ctx, spec)
	if err != nil {
		return nil, err
	}
	meta, err := readTemplateMeta(dir)
	if err != nil {
		return nil, fmt.Errorf("restore vm %s: %w", spec.ID, err)
	}
	if meta.Key != want {
		return nil, fmt.Errorf("restore vm %s: template %s is stale (key %s, want %s)", spec.ID, dir, meta.Key, want)
	}
	f, err := os.Open(filepath.Join(dir, templateState))
	if err != nil {
		return nil, fmt.Errorf("restore vm %s: %w", spec.ID, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != meta.Bytes {
		return nil, fmt.Errorf("restore vm %s: template state is truncated or changed", spec.ID)
	}
	mode := launchMode{incoming: f}
	if meta.Memory > 0 {
		mem, err := d.memories.get(dir, meta)
		if err != nil {
			return nil, fmt.Errorf("restore vm %s: %w", spec.ID, err)
		}
		mode = launchMode{memory: mem}
	}
	inst, err := d.start(ctx, spec, mode)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, restoreDeadline)
	defer cancel()
	qmpPath := vmPaths(d.sockRoot, filepath.Join(d.cfg.StateDir, spec.ID)).qmp
	if mode.memory != nil {
		err = migrateIn(rctx, qmpPath, f)
	}
	if err == nil {
		err = awaitRunning(rctx, qmpPath)
	}
	if err == nil {
		err = announceDisk(rctx, qmpPath, spec.RootDisk)
	}
	if err != nil {
		tail := stderrTail(filepath.Join(d.cfg.StateDir, spec.ID, "qemu.log"))
		d.Destroy(context.WithoutCancel(ctx), spec.ID)
		return nil, fmt.Errorf("restore vm %s: %w%s", spec.ID, err, tail)
	}
	d.log.Info("vm restored", "instance", spec.ID, "template", filepath.Base(dir), "shared_memory", mode.memory != nil)
	return inst, nil
}

// awaitRunning polls QEMU until the incoming migration has finished, then
// resumes the VM: the template was saved paused, and QEMU keeps the run
// state it was saved in.
func awaitRunning(ctx context.Context, qmpPath string) error {
	q, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer q.Close()
	for {
		raw, err := q.call("query-status", nil)
		if err != nil {
			return fmt.Errorf("load template: %w", err)
		}
		var st struct {
			Status string `json:"status"`
		}
		json.Unmarshal(raw, &st)
		switch st.Status {
		case "running":
			return nil
		case "paused":
			// QEMU answers cont once the VM runs: asking again would
			// only hold the caller, who sends the Config, one poll
			// longer.
			if err := q.execute("cont"); err != nil {
				return fmt.Errorf("load template: %w", err)
			}
			return nil
		case "inmigrate", "prelaunch", "restore-vm":
		default:
			return fmt.Errorf("load template: vm is %s", st.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load template: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// announceDisk tells the restored guest its root disk's size: its block
// driver, bound in the template to the empty placeholder, believes the
// disk has none until the device says its configuration changed, which
// QEMU does when the disk is resized. Resizing it to its own size changes
// nothing on the host. The guest init waits for the size before it mounts
// the disk (see package guest). The images are writable only once the VM
// runs (an incoming migration leaves them inactive until cont), so this
// follows awaitRunning.
func announceDisk(ctx context.Context, qmpPath, disk string) error {
	st, err := os.Stat(disk)
	if err != nil {
		return fmt.Errorf("announce disk: %w", err)
	}
	if st.Size() == 0 {
		return fmt.Errorf("announce disk: %s is empty", disk)
	}
	q, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer q.Close()
	if _, err := q.call("block_resize", map[string]any{"device": rootDrive, "size": st.Size()}); err != nil {
		return fmt.Errorf("announce disk: %w", err)
	}
	return nil
}

// setIgnoreShared turns on x-ignore-shared: the migration leaves out
// guest memory that is a shared file. Source and destination must agree.
func setIgnoreShared(q *qmpConn) error {
	_, err := q.call("migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}},
	})
	return err
}

// migrateIn starts the incoming migration of a VM started with "-incoming
// defer" from state, with x-ignore-shared (its memory is the template's).
func migrateIn(ctx context.Context, qmpPath string, state *os.File) error {
	q, err := dialQMP(ctx, qmpPath)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := setIgnoreShared(q); err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	if err := q.sendFD("template", state); err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	if _, err := q.call("migrate-incoming", map[string]any{"uri": "fd:template"}); err != nil {
		return fmt.Errorf("load template: %w", err)
	}
	return nil
}

// copySparse copies the file from to a new file to, leaving its pages of
// zeros unwritten (for a state directory on another file system).
func copySparse(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := dst.Truncate(st.Size()); err != nil {
		dst.Close()
		return err
	}
	if _, err := copyNonZero(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
