package qemu

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// TestBootRunsAppWithConfig boots a real VM: the init must greet, apply the
// Config (argv, env, user, working dir, hostname, clock), reap orphans, ship
// stdout and stderr as LogLines, report the app's exit code and power the
// VM off. The disk is as bare as an image FROM scratch (no /tmp, /proc,
// /dev, /etc/hosts; a directory the image made in /run) and the working
// directory does not exist: the app must still find what container
// runtimes give it (its checks print "check NAME=ok"), and be told when
// it listens on loopback only or on another port than its own.
func TestBootRunsAppWithConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	start := time.Now()
	inst, err := d.Start(ctx, baseSpec("boot", makeRootDiskDirs(t, []string{"etc", "home/app", "run/app"}, map[string]string{"run/app/marker": "built"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)

	// The Config goes out at once, before the guest has opened its port:
	// the channel must hold it until the init reads it.
	cfg := baseConfig("/app", "report", "two words")
	cfg.Env = append(cfg.Env, "EXIT_CODE=7", "LISTEN_LOOPBACK=1")
	cfg.Port = 8080
	cfg.User = "app"
	cfg.WorkingDir = "/srv/work" // not in the image, as a WORKDIR no step wrote to
	// A day ahead of the host: the guest's clock must come from the Config,
	// not from the emulated RTC.
	cfg.Time = time.Now().Add(24 * time.Hour)
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	hello := g.expect(ctx, t, inst, channel.KindHello)
	t.Logf("accel %s: qemu start -> hello %v (guest uptime %d ms)", d.Accel(), hello.at.Sub(start), hello.UptimeMS)
	g.expect(ctx, t, inst, channel.KindStarted)
	if lb := g.expect(ctx, t, inst, channel.KindLoopback); lb.Address != "127.0.0.1:8080" {
		t.Errorf("loopback message for %q, want 127.0.0.1:8080", lb.Address)
	}
	if v6 := g.expect(ctx, t, inst, channel.KindIPv6Only); v6.Address != "[::]:8080" {
		t.Errorf("IPv6-only message for %q, want [::]:8080", v6.Address)
	}
	if other := g.expect(ctx, t, inst, channel.KindOtherPort); other.Address != "[::]:9999" {
		t.Errorf("other port message for %q, want [::]:9999 (Go listens dual-stack)", other.Address)
	}
	if err := g.c.Send(channel.Message{Kind: channel.KindSignal, Signal: "USR1"}); err != nil {
		t.Fatal(err)
	}
	exit := g.expect(ctx, t, inst, channel.KindExit)
	if exit.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", exit.ExitCode)
	}
	st, err := d.Wait(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || st.Err != nil {
		t.Errorf("qemu exit %+v, want a clean power-off", st)
	}

	var stdout []string
	var sawStderr, sawLoopback, sawV6Only, sawOther bool
	for _, l := range logLines(t, inst.LogPath) {
		switch l.Stream {
		case "stdout":
			stdout = append(stdout, l.Text)
		case "stderr":
			sawStderr = sawStderr || l.Text == "to stderr"
			sawLoopback = sawLoopback || strings.HasPrefix(l.Text, "zeitwork: the app listens on 127.0.0.1:8080, on loopback only")
			sawV6Only = sawV6Only || strings.HasPrefix(l.Text, "zeitwork: the app listens on [::]:8080 for IPv6 only")
			sawOther = sawOther || strings.HasPrefix(l.Text, "zeitwork: the app listens on [::]:9999 but not (yet) on its port 8080")
		}
		if l.Time.IsZero() {
			t.Errorf("log line without time: %+v", l)
		}
	}
	for _, want := range []string{
		"argv=/app,report,two words",
		"uid=1000 gid=1000 groups=[1000 2000]",
		"hostname=vm-test",
		"cwd=/srv/work",
		"env GREETING=hi there",
		"env PORT=8080",
		"env HOME=/home/app",
		"orphan=reaped", // the init reaps what is re-parented to it
		"check loopback-listen=ok",
		"check tmp=ok", "check dev-shm=ok", "check dev-null=ok", "check dev-zero=ok",
		"check dev-urandom=ok", "check dev-ptmx=ok", "check dev-stdout=ok", "check dev-fd=ok",
		"check proc=ok", "check sys=ok", "check image-run=ok", "check hosts-localhost=ok", "check hosts-hostname=ok",
		"written to /dev/stdout",
		"nofile=65536 1048576 files",
	} {
		if !slices.Contains(stdout, want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, strings.Join(stdout, "\n"))
		}
	}
	if guestNow := findUnixTime(stdout); guestNow.Sub(cfg.Time).Abs() > time.Minute {
		t.Errorf("guest clock %v, want about %v (from the config)", guestNow, cfg.Time)
	}
	if !sawStderr {
		t.Error("stderr line missing from the log")
	}
	if !sawLoopback {
		t.Error("the init did not tell the app's log that it listens on loopback only")
	}
	if !sawV6Only {
		t.Error("the init did not tell the app's log that it listens for IPv6 only")
	}
	if !sawOther {
		t.Error("the init did not tell the app's log that it listens on another port")
	}
}

// TestExecFailureReportsError: a missing program must come back as a clear
// error message, and the VM must still power off.
func TestExecFailureReportsError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	inst, err := d.Start(ctx, baseSpec("execfail", makeRootDisk(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)
	g.expect(ctx, t, inst, channel.KindHello)
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: baseConfig("/nonexistent", "x")}); err != nil {
		t.Fatal(err)
	}
	var got string
	for m := range g.msgs {
		if m.Kind == channel.KindError {
			got = m.Error
			break
		}
	}
	if want := "exec /nonexistent: no such file or directory"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if _, err := d.Wait(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
}

// TestOutOfMemoryExitSaysSo: an app the guest kernel kills for memory
// exits with 137 like any SIGKILL; the init must tell the host it was the
// out-of-memory killer.
func TestOutOfMemoryExitSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	spec := baseSpec("oom", makeRootDisk(t))
	spec.MemoryMiB = 128
	inst, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: baseConfig("/app", "oom")}); err != nil {
		t.Fatal(err)
	}
	exit := g.expect(ctx, t, inst, channel.KindExit)
	if exit.ExitCode != 137 || exit.Signal != "SIGKILL" || exit.Reason != channel.ExitOutOfMemory {
		t.Errorf("exit %+v, want code 137 by SIGKILL, out of memory\nconsole:\n%s", exit.Message, readFile(inst.ConsolePath))
	}
}

func findUnixTime(lines []string) time.Time {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "unixtime="); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}
