package qemu

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// RootDevice is the guest's name for Spec.RootDisk: the only virtio block
// device. Put it in channel.Config.RootDevice.
const RootDevice = "/dev/vda"

// File descriptors of the listening sockets handed to QEMU (ExtraFiles
// start at 3). Passing listeners instead of paths means the sockets exist
// before QEMU runs, so the agent can connect without polling for them.
const (
	fdControl = 3
	fdQMP     = 4
	// fdTap is the VM's tap, opened by the driver (see openTap).
	fdTap = 5
)

// baseCmdline is the kernel command line every VM gets:
//   - console=ttyS0: kernel and init messages go to the console file.
//   - quiet: every console byte is a VM exit; under TCG that is slow.
//   - panic=-1: reboot at once on a panic; with -no-reboot QEMU then exits,
//     so a crashed guest ends the VM instead of hanging it.
//   - reboot=t: reboot by triple fault, which needs no emulated device.
const baseCmdline = "console=ttyS0 quiet panic=-1 reboot=t"

// paths are the files of one VM's state directory.
type paths struct {
	dir, control, qmp, log, console, stderr, pid, meta, jail string
}

// vmPaths names the files of the VM whose state directory is dir. The
// sockets are named through sockRoot, a short path that leads to dir's
// parent (see socketRoot), because a unix socket's name may not exceed 107
// bytes however deep the state directory is.
func vmPaths(sockRoot, dir string) paths {
	sock := sockRoot + "/" + filepath.Base(dir)
	return paths{
		dir:     dir,
		control: sock + "/control.sock",
		qmp:     sock + "/qmp.sock",
		log:     dir + "/app.log",
		console: dir + "/console.log",
		stderr:  dir + "/qemu.log",
		pid:     dir + "/pid",
		meta:    dir + "/instance.json",
		jail:    dir + "/jail.json",
	}
}

// tcgIdleCmdline keeps an idle guest from waking under TCG, where every
// guest timer interrupt is emulated on a host core (measured here, an idle
// sample app's VM: 1.92% of a core without, 0.30% with; docs/benchmarks.md):
//   - tsc=reliable: the kernel's clocksource watchdog otherwise checks the
//     TSC against another clock twice a second, forever; it was most of the
//     idle cost. TCG's TSC is the host's, which is invariant and the same on
//     every vCPU, so the check can only find what is not there.
//   - nowatchdog: the soft-lockup watchdog's timer (every 4 s per vCPU);
//     on a loaded host it also cries "soft lockup" whenever the host does
//     not schedule the vCPU thread for a while, which is not the guest's
//     fault.
//   - sysctl.vm.compaction_proactiveness=0: kcompactd otherwise wakes
//     every 500 ms to see whether memory needs compacting for huge pages,
//     which a 256 MiB microVM has no use for (measured: 0.42% of a core
//     idle with it, 0.32% without, before pit=off removed the rest).
const tcgIdleCmdline = "tsc=reliable nowatchdog sysctl.vm.compaction_proactiveness=0"

// tcgIdleMachine are microvm options for TCG. pit=off: QEMU's emulated
// i8254 comes out of reset counting in mode 3 and, unless the guest stops
// it, runs a host timer every 27 ms for the VM's whole life, although a
// guest on the LAPIC timer has the PIT's interrupt masked and never sees
// it (measured here: 37 wakeups a second of an idle VM's main thread,
// most of its idle cost). The guest needs no PIT: the TSC's frequency and
// loops-per-jiffy come on its command line (so the PIT goes only where
// they do), and its timer is the LAPIC's TSC deadline. Under KVM the PIT
// is the kernel's and costs no host thread.
const tcgIdleMachine = "pit=off"

// cmdline builds the kernel command line. Under TCG the kernel's timer
// calibration sometimes hangs; giving it the host's TSC frequency and a
// loops-per-jiffy value skips the calibration (see the microVM notes).
func cmdline(accel string, tscKHz int, extra string) string {
	parts := []string{baseCmdline}
	if accel == "tcg" {
		parts = append(parts, tcgIdleCmdline)
	}
	if accel == "tcg" && tscKHz > 0 {
		parts = append(parts, fmt.Sprintf("tsc_early_khz=%d lpj=%d no_timer_check", tscKHz, 2*tscKHz))
	}
	if extra = strings.TrimSpace(extra); extra != "" {
		parts = append(parts, extra)
	}
	return strings.Join(parts, " ")
}

// qemuArgs builds QEMU's arguments for a VM.
//
// The root disk uses cache=unsafe: it is this VM's own scratch copy, never
// shared and rebuilt from the image when lost, so the host need not make
// the guest's flushes durable; skipping the host fsyncs keeps disk writes
// cheap. A guest that powers off cleanly still leaves a consistent file in
// the host's page cache.
func qemuArgs(spec vmm.Spec, p paths, accel string, tcgCacheMiB int, cmd string) []string {
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
	}
	machine := "microvm,x-option-roms=off,rtc=on"
	if accel == "tcg" && strings.Contains(cmd, "tsc_early_khz=") {
		machine += "," + tcgIdleMachine
	}
	args := []string{
		// The RTC stays on: without it the kernel's clock read at boot
		// spins on the missing chip's update flag, which costs 2.5 s under
		// TCG (measured here: hello at 3.6 s of guest uptime, 1.3 s with it).
		"-M", machine,
		"-accel", accelOpt(accel, tcgCacheMiB),
		"-cpu", cpu,
		"-m", strconv.Itoa(spec.MemoryMiB) + "M",
		// Guest RAM from a memfd: QEMU asks for transparent huge pages on
		// anonymous guest RAM, which makes every touched 2 MiB resident, so
		// an idle 256 MiB guest cost all 256 MiB. Shared memory is not
		// backed by huge pages by default: only pages the guest touched
		// (about 90 MiB) are resident.
		"-object", "memory-backend-memfd,id=ram,size=" + strconv.Itoa(spec.MemoryMiB) + "M",
		"-machine", "memory-backend=ram",
		"-smp", strconv.Itoa(spec.VCPUs),
		"-nodefaults", "-no-user-config", "-no-reboot",
		"-sandbox", sandboxOpt,
		// Not -nographic: nothing is attached to QEMU's stdio (the VM
		// outlives the agent), so QEMU must not multiplex it.
		"-display", "none",
		"-kernel", spec.Kernel,
		"-initrd", spec.Initrd,
		"-append", cmd,
		// Appending, like the log: the node agent caps both files by
		// copying and truncating them (copytruncate), and only an appending
		// writer continues at the new end instead of leaving a hole.
		"-chardev", "file,id=con,path=" + p.console + ",append=on",
		"-serial", "chardev:con",
		"-chardev", fmt.Sprintf("socket,id=qmp,fd=%d,server=on,wait=off", fdQMP),
		"-mon", "chardev=qmp,mode=control",
		// Port 0 is reserved for a console; ours are 1 and 2.
		"-device", "virtio-serial-device,max_ports=3",
		"-chardev", fmt.Sprintf("socket,id=ctl,fd=%d,server=on,wait=off", fdControl),
		"-device", "virtserialport,chardev=ctl,name=" + channel.ControlPort,
		"-chardev", "file,id=log,path=" + p.log + ",append=on",
		"-device", "virtserialport,chardev=log,name=" + channel.LogPort,
	}
	if spec.RootDisk != "" {
		args = append(args,
			"-drive", "id="+rootDrive+",file="+spec.RootDisk+",format=raw,if=none,cache=unsafe",
			"-device", "virtio-blk-device,drive="+rootDrive)
	}
	if spec.Network.TapName != "" {
		nic := "virtio-net-device,netdev=net0"
		if spec.Network.MAC != "" {
			nic += ",mac=" + spec.Network.MAC
		}
		args = append(args,
			"-netdev", fmt.Sprintf("tap,id=net0,fd=%d", fdTap),
			"-device", nic)
	}
	return args
}

// rootDrive is the root disk's drive (block backend) name.
const rootDrive = "root"

// parseCPUKHz reads the first "cpu MHz" of /proc/cpuinfo as kHz, or 0.
func parseCPUKHz(r io.Reader) int {
	s := bufio.NewScanner(r)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || strings.TrimSpace(k) != "cpu MHz" {
			continue
		}
		mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || mhz <= 0 {
			return 0
		}
		return int(mhz * 1000)
	}
	return 0
}

// accelOpt is the -accel value. TCG's translation cache is capped: QEMU's
// default lets it grow to a large share of guest RAM, and each VM's cache
// is resident memory on the host, unique to the VM. KVM has no such cache.
func accelOpt(accel string, tcgCacheMiB int) string {
	if accel == "tcg" {
		if tcgCacheMiB <= 0 {
			tcgCacheMiB = DefaultTCGCacheMiB
		}
		return "tcg,tb-size=" + strconv.Itoa(tcgCacheMiB)
	}
	return accel
}

// DefaultTCGCacheMiB is Config.TCGCacheMiB's default. An idle instance
// touches its whole cache (QEMU fills it before it flushes it), so the
// cache is a floor of every TCG instance's unique memory.
const DefaultTCGCacheMiB = 24
