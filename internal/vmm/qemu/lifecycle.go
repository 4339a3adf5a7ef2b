package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// stopGrace is how long Stop lets QEMU quit through QMP before SIGKILL.
const stopGrace = 3 * time.Second

func (d *Driver) get(id string) (*vm, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	if !ok || v.inst == nil {
		return nil, fmt.Errorf("vm %s: %w", id, vmm.ErrNotFound)
	}
	return v, nil
}

// Wait implements vmm.Driver. For a VM recovered from an earlier agent the
// exit code of QEMU is not observable (it is not our child); Code is 0 when
// the console shows the guest powered off and -1 otherwise.
func (d *Driver) Wait(ctx context.Context, id string) (vmm.ExitStatus, error) {
	v, err := d.get(id)
	if err != nil {
		return vmm.ExitStatus{}, err
	}
	if v.done != nil {
		select {
		case <-v.done:
			return v.status, nil
		case <-ctx.Done():
			return vmm.ExitStatus{}, ctx.Err()
		}
	}
	if err := waitPid(ctx, v.inst.PID); err != nil {
		return vmm.ExitStatus{}, fmt.Errorf("wait vm %s: %w", id, err)
	}
	d.release(id)
	return vmm.ExitStatus{Code: recoveredExitCode(v.inst.ConsolePath)}, nil
}

// recoveredExitCode guesses QEMU's exit code from the console: the kernel
// prints "reboot: Power down" even when quiet.
func recoveredExitCode(console string) int {
	b, _ := os.ReadFile(console)
	if strings.Contains(string(b), "reboot: Power down") {
		return 0
	}
	return -1
}

// alive reports whether the VM's QEMU is still running.
func (v *vm) alive() bool {
	if v.done != nil {
		select {
		case <-v.done:
			return false
		default:
			return true
		}
	}
	return isOurQEMU(v.inst.PID, v.dir)
}

// Stop implements vmm.Driver: QMP quit (QEMU flushes and exits), then
// SIGKILL if QEMU does not go within stopGrace.
func (d *Driver) Stop(ctx context.Context, id string) error {
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if !v.alive() {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, stopGrace)
	defer cancel()
	// Through the short socket name: the socket's path in a deep state
	// directory is too long to dial (see socketRoot).
	if q, err := dialQMP(qctx, vmPaths(d.sockRoot, v.dir).qmp); err == nil {
		q.execute("quit") // QEMU may close the socket before answering
		q.Close()
	}
	if _, err := d.Wait(qctx, id); err == nil {
		return nil
	}
	if err := signalPid(v.inst.PID, unix.SIGKILL); err != nil {
		return fmt.Errorf("stop vm %s: %w", id, err)
	}
	if _, err := d.Wait(ctx, id); err != nil {
		return fmt.Errorf("stop vm %s: %w", id, err)
	}
	return nil
}

// Destroy implements vmm.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	if err := d.Stop(ctx, id); err != nil && !errors.Is(err, vmm.ErrNotFound) {
		return err
	}
	d.mu.Lock()
	delete(d.vms, id)
	d.mu.Unlock()
	d.release(id)
	if err := os.RemoveAll(filepath.Join(d.cfg.StateDir, id)); err != nil {
		return fmt.Errorf("destroy vm %s: %w", id, err)
	}
	d.log.Info("vm destroyed", "instance", id)
	return nil
}

// Recover implements vmm.Driver: every state directory whose QEMU still
// runs is adopted; the others are removed. It never stops an instance's VM;
// only accelerator-probe VMs left by a crashed agent are killed.
func (d *Driver) Recover(ctx context.Context) ([]*vmm.Instance, error) {
	entries, err := os.ReadDir(d.cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("recover vms: %w", err)
	}
	var out []*vmm.Instance
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".probe-") {
			d.removeProbe(filepath.Join(d.cfg.StateDir, e.Name()))
			continue
		}
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // the accel cache
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		d.mu.Lock()
		known, ok := d.vms[e.Name()]
		d.mu.Unlock()
		if ok { // ours already, or being started right now
			if known.inst != nil && known.alive() {
				out = append(out, known.inst)
			}
			continue
		}
		dir := filepath.Join(d.cfg.StateDir, e.Name())
		inst, err := readState(vmPaths(d.sockRoot, dir))
		if err != nil {
			// An agent that died between starting QEMU and writing the
			// state leaves a running VM without a record: rebuild it.
			inst = findUnrecorded(e.Name(), vmPaths(d.sockRoot, dir))
		}
		if inst == nil || !isOurQEMU(inst.PID, dir) {
			d.log.Info("removing state of a gone vm", "instance", e.Name())
			d.release(e.Name())
			os.RemoveAll(dir)
			continue
		}
		d.mu.Lock()
		d.vms[inst.ID] = &vm{inst: inst, dir: dir, uid: readJailState(vmPaths(d.sockRoot, dir))}
		d.mu.Unlock()
		d.log.Info("vm recovered", "instance", inst.ID, "pid", inst.PID)
		out = append(out, inst)
	}
	return out, nil
}

func readState(p paths) (*vmm.Instance, error) {
	dir := p.dir
	b, err := os.ReadFile(p.meta)
	if err != nil {
		return nil, err
	}
	var inst vmm.Instance
	if err := json.Unmarshal(b, &inst); err != nil {
		return nil, fmt.Errorf("read state %s: %w", dir, err)
	}
	pb, err := os.ReadFile(p.pid)
	if err != nil {
		return nil, err
	}
	if inst.PID, err = strconv.Atoi(strings.TrimSpace(string(pb))); err != nil {
		return nil, fmt.Errorf("read state %s: %w", dir, err)
	}
	return &inst, nil
}

// removeProbe cleans up after a probe whose agent died mid-probe. Its QEMU
// may hang forever (that is what the probe detects), so it is killed: a
// probe VM is never an instance.
func (d *Driver) removeProbe(dir string) {
	if pid := findQEMU(dir); pid > 0 {
		signalPid(pid, unix.SIGKILL)
	}
	if err := d.cgroups.Remove(context.Background(), probeCgroup(dir)); err != nil {
		d.log.Warn("probe cgroup left behind", "err", err)
	}
	os.RemoveAll(dir)
}

// findQEMU returns the pid of a QEMU running on dir's files, or 0.
func findQEMU(dir string) int {
	procs, _ := os.ReadDir("/proc")
	for _, pe := range procs {
		if pid, err := strconv.Atoi(pe.Name()); err == nil && isOurQEMU(pid, dir) {
			return pid
		}
	}
	return 0
}

// findUnrecorded looks for a QEMU running on dir's files without a pid file
// and rebuilds its Instance (every path in it follows from dir).
func findUnrecorded(id string, p paths) *vmm.Instance {
	dir := p.dir
	pid := findQEMU(dir)
	if pid == 0 {
		return nil
	}
	inst := &vmm.Instance{ID: id, PID: pid, ControlSocket: p.control, LogPath: p.log, ConsolePath: p.console}
	if st, err := os.Stat(dir); err == nil {
		inst.StartedAt = st.ModTime()
	}
	if err := writeState(p, inst); err != nil {
		return nil
	}
	return inst
}
