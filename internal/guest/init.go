// Package guest is the init that runs as PID 1 inside every Zeitwork
// microVM. It loads the virtio modules, greets the host on the control port,
// receives the instance's Config (clock, entropy, addresses, the image's
// command, env and user: nothing secret travels on the kernel command line),
// switches into the app's root disk, runs the app as its child, ships its
// output to the log port, and powers the VM off when the app exits.
package guest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// Timeouts for devices the host announces asynchronously after boot.
const (
	portTimeout = 10 * time.Second
	diskTimeout = 10 * time.Second
)

// Main is the init's entry point. It never returns: the VM powers off.
func Main() {
	var ctl *controlPort
	exit, err := boot(&ctl)
	if err != nil {
		consolef("fatal: %v", err)
		if ctl != nil {
			ctl.send(channel.Message{Kind: channel.KindError, Error: err.Error()})
		}
	} else if ctl != nil && exit != nil {
		ctl.send(*exit)
	}
	powerOff()
}

// boot runs the init's steps in order; it returns the app's exit message,
// or nil when there was no app to run (the accelerator probe).
func boot(ctlOut **controlPort) (*channel.Message, error) {
	if err := mountAll(earlyMounts); err != nil {
		return nil, err
	}
	st := stages{start: uptimeMS()} // needs /proc
	if err := mountAll(instanceMounts); err != nil {
		return nil, err
	}
	if err := loadModules(ModulesDir, ModulesOrderFile, allModules); err != nil {
		return nil, err
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	if err := prepareEth0(); err != nil {
		return nil, err
	}
	st.mark("modules")
	ports, err := waitPorts([]string{channel.ControlPort, channel.LogPort}, portTimeout)
	if err != nil {
		return nil, err
	}
	ctl, err := openControl(ports[channel.ControlPort])
	if err != nil {
		return nil, err
	}
	*ctlOut = ctl
	if err := ctl.send(channel.Message{Kind: channel.KindHello, UptimeMS: uptimeMS()}); err != nil {
		return nil, err
	}
	st.mark("hello")
	if probing() {
		return nil, nil
	}
	cfg, err := ctl.config()
	if err != nil {
		return nil, err
	}
	st.mark("config")
	a, err := setup(cfg, ports[channel.LogPort], &st)
	if err != nil {
		return nil, err
	}
	a.ctl = ctl
	consolef("%s", &st)
	return a.run()
}

// setup applies the Config: clock, entropy, root disk, network, hostname,
// user; it returns the app ready to run. Everything that makes an instance
// itself happens here, after the Config, because the VM may be a copy of a
// template saved while it waited for it (see package vmm's Snapshotter).
func setup(cfg *channel.Config, logPort string, st *stages) (*app, error) {
	if err := setClock(cfg.Time); err != nil {
		return nil, err
	}
	if err := addEntropy(cfg.Entropy); err != nil {
		return nil, err
	}
	if cfg.RootDevice == "" {
		return nil, errors.New("config: no root device")
	}
	if err := configureIdentity(cfg); err != nil {
		return nil, err
	}
	st.mark("network")
	if err := awaitDisk(cfg.RootDevice, diskTimeout); err != nil {
		return nil, err
	}
	st.mark("disk")
	if err := mountRoot(cfg.RootDevice); err != nil {
		return nil, err
	}
	if err := switchRoot(); err != nil {
		return nil, err
	}
	st.mark("root")
	if err := writeResolvConf(cfg.Network.DNS); err != nil {
		consolef("%v (kept the image's)", err)
	}
	if err := prepareRuntime("/", cfg.Hostname, cfg.Network.Address); err != nil {
		return nil, err
	}
	cred, err := lookupUser(cfg.User)
	if err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(logPort, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open log port: %w", err)
	}
	return &app{cfg: cfg, cred: cred, logs: &logWriter{w: lf}}, nil
}

// configureIdentity sets the instance's network and hostname. Setting
// them beside the disk's steps (a goroutine) was measured and did not pay:
// after a restore the guest's one vCPU is busy, not waiting, in both.
func configureIdentity(cfg *channel.Config) error {
	if err := configureNetwork(cfg.Network); err != nil {
		return err
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	return nil
}

// lookupUser resolves the image's user in the new root's user database.
func lookupUser(spec string) (Cred, error) {
	passwd, _ := os.Open("/etc/passwd")
	group, _ := os.Open("/etc/group")
	defer func() {
		if passwd != nil {
			passwd.Close()
		}
		if group != nil {
			group.Close()
		}
	}()
	// A nil *os.File in an io.Reader is not a nil interface; pass real nils.
	var pr, gr io.Reader
	if passwd != nil {
		pr = passwd
	}
	if group != nil {
		gr = group
	}
	return resolveUser(spec, pr, gr)
}

func setClock(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	tv := unix.NsecToTimeval(t.UnixNano())
	if err := unix.Settimeofday(&tv); err != nil {
		return fmt.Errorf("set clock: %w", err)
	}
	return nil
}

// addEntropy credits the host's random bytes to the kernel's pool and
// reseeds the kernel's random number generator from it at once, so that
// the app's first getrandom does not block and two VMs restored from one
// template, whose generators were identical, part before the app runs.
// Without the reseed a restored kernel would keep the template's key until
// its next scheduled reseed (up to a minute). The kernel's TCP secrets are
// drawn on first use, after this: the template never opened a connection.
func addEntropy(seed []byte) error {
	if len(seed) == 0 {
		return nil
	}
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("add entropy: %w", err)
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+len(seed)+3)
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(seed) * 8)
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(seed))
	copy(buf[8:], seed)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return fmt.Errorf("add entropy: %w", errno)
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDRESEEDCRNG, 0); errno != 0 {
		return fmt.Errorf("reseed crng: %w", errno)
	}
	return nil
}

// probing reports whether the kernel command line asks for a probe boot.
func probing() bool {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if f == ProbeArg {
			return true
		}
	}
	return false
}

// powerOff ends the VM: every process is killed so the root file system can
// be made read-only with a clean journal, then the machine powers off. If
// that fails, a reboot also ends it (the VMM runs with -no-reboot).
func powerOff() {
	unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		consolef("power off: %v", err)
	}
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}

// uptimeMS is the time since boot in milliseconds, the clock of
// /proc/uptime (CLOCK_BOOTTIME) read without its 10 ms steps.
func uptimeMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return ts.Nano() / int64(time.Millisecond)
}

func consolef(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "zeitwork-init: "+format+"\n", args...)
}

// stages records when each boot step finished, for the console.
type stages struct {
	start int64
	marks []string
}

func (s *stages) mark(name string) {
	s.marks = append(s.marks, fmt.Sprintf("%s=%dms", name, uptimeMS()))
}

func (s *stages) String() string {
	return fmt.Sprintf("init=%dms %s", s.start, strings.Join(s.marks, " "))
}
