// Package qemu is the vmm.Driver that runs microVMs with QEMU's microvm
// machine: KVM where it really boots a guest, TCG software emulation
// elsewhere (chosen by booting a probe VM, see accel.go).
//
// Each VM has a state directory <StateDir>/<id>/ holding its control and
// QMP sockets, its log and console files, QEMU's stderr, a pid file and the
// Instance as JSON. QEMU runs in its own session and is not the agent's to
// kill: a restarted agent finds it again with Recover.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/vmm"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// Config configures the driver.
type Config struct {
	// StateDir holds one directory per VM (and the accelerator probe cache).
	StateDir string
	// QEMUPath is the qemu-system-x86_64 binary; found in PATH when empty.
	QEMUPath string
	// Log receives the driver's events; slog.Default() when nil.
	Log *slog.Logger
	// Accel is "auto" (probe, the default), "kvm" or "tcg".
	Accel string
	// UIDBase and UIDCount are the range of uids (and gids of the same
	// number) QEMU runs as, one per VM: default 900000 and 4096. The
	// first is the accelerator probe's. No other user may have them.
	UIDBase, UIDCount int
	// CgroupParent is the cgroup holding one cgroup per VM (see
	// jail.NewCgroups); default "zeitwork-vms".
	CgroupParent string
	// TCGCacheMiB is the size of TCG's translation cache per VM (QEMU's
	// tb-size); DefaultTCGCacheMiB when 0. Unused under KVM. It is part
	// of the template key: templates are rebuilt when it changes.
	TCGCacheMiB int
}

// Driver runs QEMU microVMs. It is safe for concurrent use.
type Driver struct {
	cfg    Config
	log    *slog.Logger
	tscKHz int
	// sockRoot names StateDir in socket paths (see socketRoot).
	sockRoot string
	cgroups  *jail.Cgroups
	// digests caches file hashes for TemplateKey.
	digests fileDigests
	// sharedMemory is whether templates keep their memory in a file that
	// instances map copy-on-write from a sealed memfd (see memfd.go);
	// memories holds those memfds.
	sharedMemory bool
	memories     sealedMemories
	// jailHook changes how QEMU is launched (its arguments, environment,
	// huge pages): for benchmarks that compare with earlier settings.
	jailHook func(*jail.Spec)

	mu    sync.Mutex
	accel string
	vms   map[string]*vm
}

// vm is the driver's record of one VM.
type vm struct {
	inst *vmm.Instance
	dir  string
	// uid is the user QEMU runs as (0 for a VM started before jails).
	uid int
	// done is closed when a VM started by this Driver has been reaped;
	// status is valid after that. Recovered VMs have no done channel.
	done   chan struct{}
	status vmm.ExitStatus
}

// New returns a driver. It does not touch running VMs; call Recover.
func New(cfg Config) (*Driver, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("qemu: no state directory")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QEMUPath == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			return nil, fmt.Errorf("qemu: find qemu-system-x86_64: %w", err)
		}
		cfg.QEMUPath = p
	}
	switch cfg.Accel {
	case "":
		cfg.Accel = "auto"
	case "auto", "kvm", "tcg":
	default:
		return nil, fmt.Errorf("qemu: unknown accel %q (want auto, kvm or tcg)", cfg.Accel)
	}
	if cfg.UIDBase <= 0 {
		cfg.UIDBase = defaultUIDBase
	}
	if cfg.UIDCount <= 1 {
		cfg.UIDCount = defaultUIDCount
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = defaultCgroupParent
	}
	cgroups, err := jail.NewCgroups(cfg.CgroupParent)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := jailDirs(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("qemu: state dir: %w", err)
	}
	cfg.StateDir = abs
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu: state dir: %w", err)
	}
	sockRoot, err := socketRoot(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	d := &Driver{cfg: cfg, log: cfg.Log, tscKHz: hostTSCKHz(), vms: map[string]*vm{}, sockRoot: sockRoot, cgroups: cgroups, sharedMemory: canSealMemfd()}
	if cfg.Accel != "auto" {
		d.accel = cfg.Accel
	}
	return d, nil
}

// Name implements vmm.Driver.
func (d *Driver) Name() string { return "qemu" }

// Accel implements vmm.Driver: "kvm" or "tcg", or "" while an automatic
// choice has not been probed yet (Probe, or the first Start, does it).
func (d *Driver) Accel() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accel
}

// Start implements vmm.Driver. It returns once QEMU answers on its QMP
// socket, so QEMU's argument and device errors come back here.
func (d *Driver) Start(ctx context.Context, spec vmm.Spec) (*vmm.Instance, error) {
	return d.start(ctx, spec, launchMode{})
}

// start boots spec's VM, or restores it when mode has a template's state.
func (d *Driver) start(ctx context.Context, spec vmm.Spec, mode launchMode) (*vmm.Instance, error) {
	if err := validate(spec); err != nil {
		return nil, err
	}
	accel, err := d.Probe(ctx, spec.Kernel, spec.Initrd)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if _, ok := d.vms[spec.ID]; ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("start vm %s: already exists", spec.ID)
	}
	uid, err := d.allocUID()
	if err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("start vm %s: %w", spec.ID, err)
	}
	v := &vm{dir: filepath.Join(d.cfg.StateDir, spec.ID), done: make(chan struct{}), uid: uid}
	d.vms[spec.ID] = v // reserve the id and the uid
	d.mu.Unlock()

	inst, err := d.launch(ctx, spec, accel, v, mode)
	if err != nil {
		d.mu.Lock()
		delete(d.vms, spec.ID)
		d.mu.Unlock()
		return nil, fmt.Errorf("start vm %s: %w", spec.ID, err)
	}
	d.log.Info("vm started", "instance", spec.ID, "pid", inst.PID, "accel", accel)
	return inst, nil
}

func validate(spec vmm.Spec) error {
	switch {
	case spec.ID == "" || strings.ContainsAny(spec.ID, "/\x00") || strings.HasPrefix(spec.ID, "."):
		return fmt.Errorf("start vm: invalid id %q", spec.ID)
	case spec.Kernel == "" || spec.Initrd == "":
		return fmt.Errorf("start vm %s: kernel and initrd are required", spec.ID)
	case spec.MemoryMiB <= 0 || spec.VCPUs <= 0:
		return fmt.Errorf("start vm %s: memory and vcpus must be positive", spec.ID)
	}
	return nil
}

// launch prepares the state directory and runs QEMU.
func (d *Driver) launch(ctx context.Context, spec vmm.Spec, accel string, v *vm, mode launchMode) (*vmm.Instance, error) {
	if err := os.RemoveAll(v.dir); err != nil { // leftovers of a stopped VM
		return nil, err
	}
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return nil, err
	}
	p := vmPaths(d.sockRoot, v.dir)
	cmd, err := d.command(ctx, spec, p, accel, v.uid, cgroupName(spec.ID), mode)
	if err != nil {
		d.release(spec.ID)
		os.RemoveAll(v.dir)
		return nil, err
	}
	started := time.Now()
	err = cmd.Start()
	closeExtraFiles(cmd) // QEMU has its copies
	if err != nil {
		d.release(spec.ID)
		os.RemoveAll(v.dir)
		return nil, fmt.Errorf("run qemu: %w", err)
	}
	inst := &vmm.Instance{
		ID: spec.ID, PID: cmd.Process.Pid, ControlSocket: p.control,
		LogPath: p.log, ConsolePath: p.console, StartedAt: started,
	}
	v.inst = inst
	go d.reap(cmd, v)
	if err := writeState(p, inst); err != nil {
		cmd.Process.Kill()
		<-v.done
		os.RemoveAll(v.dir)
		return nil, err
	}
	if err := awaitQMP(ctx, p.qmp, v.done); err != nil {
		cmd.Process.Kill()
		<-v.done
		tail := stderrTail(p.stderr)
		os.RemoveAll(v.dir)
		return nil, fmt.Errorf("%w%s", err, tail)
	}
	return inst, nil
}

// command builds the QEMU process: jailed (see jail.go) as uid in the
// cgroup named cgroup, its own session so that it outlives the agent,
// stdio on a file, the sockets and the tap passed as descriptors. ctx
// bounds the wait for a tap that another descriptor still holds.
func (d *Driver) command(ctx context.Context, spec vmm.Spec, p paths, accel string, uid int, cgroup string, mode launchMode) (cmd *exec.Cmd, err error) {
	var files []*os.File // fds 3 (control), 4 (QMP), 5 (tap), then the template's state
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	for _, path := range []string{p.control, p.qmp} {
		f, err := listen(path)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if n := spec.Network; n.TapName != "" {
		tap, err := openTap(ctx, n.NetNS, n.TapName, d.cfg.StateDir)
		if err != nil {
			return nil, err
		}
		files = append(files, tap)
	}
	var modeArgs []string
	inFD, memFD := 0, 0
	// QEMU's copies: closing them after the start must not close the caller's.
	for _, f := range []struct {
		file *os.File
		fd   *int
	}{{mode.incoming, &inFD}, {mode.memory, &memFD}} {
		if f.file == nil {
			continue
		}
		dup, err := dupFile(f.file)
		if err != nil {
			return nil, err
		}
		files = append(files, dup)
		*f.fd = fdControl + len(files) - 1
	}
	if mode.incoming != nil || mode.memory != nil || mode.template {
		modeArgs = mode.args(inFD)
	}
	stderr, err := os.OpenFile(p.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	files = append(files, stderr)
	argv := append([]string{d.cfg.QEMUPath}, qemuArgs(spec, p, accel, d.cfg.TCGCacheMiB, cmdline(accel, d.tscKHz, spec.KernelArgs))...)
	argv = withMemoryBackend(argv, mode.memoryBackend(spec.MemoryMiB, memFD))
	argv = append(argv, modeArgs...)
	js, err := d.jailed(spec, p, accel, uid, cgroup, argv)
	if err != nil {
		return nil, err
	}
	if mode.memory != nil {
		// QEMU opens the sealed memfd by name: its own descriptors, and
		// nothing else of /proc.
		js.Binds = append(js.Binds, jail.Bind{Path: "/proc/self/fd"})
	}
	if cmd, err = jail.Command(js); err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.ExtraFiles = files[:len(files)-1]
	// A session of its own: no signal sent to the agent's process group
	// (Ctrl-C, systemd stopping the agent) reaches QEMU.
	cmd.SysProcAttr.Setsid = true
	return cmd, nil
}

func closeExtraFiles(cmd *exec.Cmd) {
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close()
	}
}

// listen creates a unix socket for QEMU and returns its descriptor. The file
// must outlive this process's copy of the listener.
func listen(path string) (*os.File, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return f, nil
}

// reap waits for a QEMU this Driver started and records how it ended.
func (d *Driver) reap(cmd *exec.Cmd, v *vm) {
	err := cmd.Wait()
	// ExitCode is -1 for a killed QEMU, as vmm.ExitStatus wants.
	st := vmm.ExitStatus{Code: cmd.ProcessState.ExitCode()}
	if err != nil && st.Code > 0 {
		st.Err = fmt.Errorf("qemu exited with %d%s", st.Code, stderrTail(filepath.Join(v.dir, "qemu.log")))
	}
	v.status = st
	d.release(v.inst.ID)
	close(v.done)
}

func writeState(p paths, inst *vmm.Instance) error {
	b, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.meta, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.WriteFile(p.pid, []byte(strconv.Itoa(inst.PID)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// stderrTail returns the end of QEMU's stderr for error messages.
func stderrTail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 500 {
		s = s[len(s)-500:]
	}
	return ": " + s
}

var aLongTimeAgo = time.Unix(1, 0)

var (
	_ vmm.Driver      = (*Driver)(nil)
	_ vmm.Snapshotter = (*Driver)(nil)
)
