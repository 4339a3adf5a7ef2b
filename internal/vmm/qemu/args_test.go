package qemu

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

func TestCmdline(t *testing.T) {
	if got := cmdline("kvm", 2300000, ""); got != baseCmdline {
		t.Errorf("kvm: %q", got)
	}
	want := baseCmdline + " tsc=reliable nowatchdog sysctl.vm.compaction_proactiveness=0 tsc_early_khz=2300000 lpj=4600000 no_timer_check zeitwork.probe=1"
	if got := cmdline("tcg", 2300000, " zeitwork.probe=1 "); got != want {
		t.Errorf("tcg: %q, want %q", got, want)
	}
	if got := cmdline("tcg", 0, ""); got != baseCmdline+" tsc=reliable nowatchdog sysctl.vm.compaction_proactiveness=0" {
		t.Errorf("tcg without a known TSC: %q", got)
	}
}

// Under TCG the guest must not run the clocksource watchdog, which cost an
// idle VM 1.6% of a core (docs/benchmarks.md), nor the soft-lockup one.
func TestCmdlineKeepsIdleTCGGuestQuiet(t *testing.T) {
	for _, tsc := range []int{0, 2300000} {
		args := strings.Fields(cmdline("tcg", tsc, ""))
		for _, want := range []string{"tsc=reliable", "nowatchdog", "sysctl.vm.compaction_proactiveness=0"} {
			if !slices.Contains(args, want) {
				t.Errorf("tcg command line (tsc %d kHz) lacks %s: %v", tsc, want, args)
			}
		}
	}
	if strings.Contains(cmdline("kvm", 2300000, ""), "tsc=reliable") {
		t.Error("kvm guests use kvm-clock; the TSC is not asserted reliable there")
	}
}

// Under TCG an idle VM must not run QEMU's emulated PIT (a host timer
// every 27 ms) nor keep more translation cache than asked for; KVM has
// neither cost and keeps its defaults.
func TestQEMUArgsKeepIdleTCGQuiet(t *testing.T) {
	spec := vmm.Spec{MemoryMiB: 256, VCPUs: 1}
	p := vmPaths("/s", "/s/a")
	opt := func(args []string, flag string) string {
		t.Helper()
		i := slices.Index(args, flag)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("no %s in %q", flag, args)
		}
		return args[i+1]
	}
	tcg := qemuArgs(spec, p, "tcg", 0, cmdline("tcg", 2300000, ""))
	if m := opt(tcg, "-M"); !strings.Contains(m, "pit=off") {
		t.Errorf("tcg machine %q keeps the PIT", m)
	}
	if a := opt(tcg, "-accel"); a != "tcg,tb-size="+strconv.Itoa(DefaultTCGCacheMiB) {
		t.Errorf("tcg accel %q, want the default cache", a)
	}
	if a := opt(qemuArgs(spec, p, "tcg", 8, "x"), "-accel"); a != "tcg,tb-size=8" {
		t.Errorf("tcg accel with an 8 MiB cache: %q", a)
	}
	// Without the TSC's frequency the kernel may calibrate against the PIT.
	if m := opt(qemuArgs(spec, p, "tcg", 0, cmdline("tcg", 0, "")), "-M"); strings.Contains(m, "pit=off") {
		t.Errorf("tcg machine %q drops the PIT though the kernel calibrates its TSC", m)
	}
	kvm := qemuArgs(spec, p, "kvm", 8, cmdline("kvm", 2300000, ""))
	if m, a := opt(kvm, "-M"), opt(kvm, "-accel"); strings.Contains(m, "pit") || a != "kvm" {
		t.Errorf("kvm machine %q, accel %q: want microvm's defaults and no cache size", m, a)
	}
}

func TestQEMUArgs(t *testing.T) {
	spec := vmm.Spec{ID: "a", Kernel: "/k", Initrd: "/i", RootDisk: "/d.img", MemoryMiB: 256, VCPUs: 2,
		Network: vmm.NetworkSpec{TapName: "tap7", MAC: "52:54:00:00:00:07"}}
	args := strings.Join(qemuArgs(spec, vmPaths("/s", "/s/a"), "tcg", 0, "x"), " ")
	for _, want := range []string{
		"-M microvm,x-option-roms=off,rtc=on", "memory-backend-memfd,id=ram,size=256M", "-accel tcg,tb-size=" + strconv.Itoa(DefaultTCGCacheMiB), "-cpu max", "-m 256M", "-smp 2",
		"-nodefaults", "-no-user-config", "-no-reboot", "-kernel /k", "-initrd /i", "-append x",
		"file=/d.img,format=raw,if=none,cache=unsafe", "-device virtio-blk-device,drive=root",
		"tap,id=net0,fd=5", "-sandbox " + sandboxOpt, "virtio-net-device,netdev=net0,mac=52:54:00:00:00:07",
		"socket,id=ctl,fd=3,server=on,wait=off", "name=zeitwork.ctl", "path=/s/a/app.log,append=on", "name=zeitwork.log",
		"file,id=con,path=/s/a/console.log,append=on", "socket,id=qmp,fd=4,server=on,wait=off",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	kvm := qemuArgs(vmm.Spec{MemoryMiB: 1, VCPUs: 1}, vmPaths("/", "/s"), "kvm", 16, "")
	if !slices.Contains(kvm, "host") || !slices.Contains(kvm, "kvm") || slices.Contains(kvm, "-netdev") || slices.Contains(kvm, "-drive") {
		t.Errorf("kvm without disk and network: %q", kvm)
	}
}

func TestParseCPUKHz(t *testing.T) {
	in := "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2294.608\ncpu MHz\t\t: 1000\n"
	if got := parseCPUKHz(strings.NewReader(in)); got != 2294608 {
		t.Errorf("got %d", got)
	}
	if got := parseCPUKHz(strings.NewReader("flags: x\n")); got != 0 {
		t.Errorf("no MHz: got %d", got)
	}
}

func TestCmdlineMentions(t *testing.T) {
	cl := []byte("qemu-system-x86_64\x00-chardev\x00file,id=con,path=/var/lib/zw/vm1/console.log\x00")
	if !cmdlineMentions(cl, "/var/lib/zw/vm1") {
		t.Error("own state dir not found")
	}
	if cmdlineMentions(cl, "/var/lib/zw/vm") {
		t.Error("prefix of another id matched")
	}
}

func TestValidate(t *testing.T) {
	ok := vmm.Spec{ID: "a", Kernel: "k", Initrd: "i", MemoryMiB: 1, VCPUs: 1}
	if err := validate(ok); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "a/b", ".probe"} {
		s := ok
		s.ID = id
		if validate(s) == nil {
			t.Errorf("id %q accepted", id)
		}
	}
}
