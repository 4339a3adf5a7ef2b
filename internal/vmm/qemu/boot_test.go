package qemu

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// TestBootRunsAppWithConfig boots a real VM: the init must greet, apply the
// Config (argv, env, user, working dir, hostname), ship stdout and stderr as
// LogLines, report the app's exit code and power the VM off.
func TestBootRunsAppWithConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	start := time.Now()
	inst, err := d.Start(ctx, baseSpec("boot", makeRootDisk(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), inst.ID) })
	g := dialGuest(ctx, t, inst)

	hello := g.expect(ctx, t, inst, channel.KindHello)
	t.Logf("accel %s: qemu start -> hello %v (guest uptime %d ms)", d.Accel(), hello.at.Sub(start), hello.UptimeMS)
	cfg := baseConfig("/app", "report", "two words")
	cfg.Env = append(cfg.Env, "EXIT_CODE=7")
	cfg.User = "app"
	cfg.WorkingDir = "/home/app"
	if err := g.c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	g.expect(ctx, t, inst, channel.KindStarted)
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
	var sawStderr bool
	for _, l := range logLines(t, inst.LogPath) {
		switch l.Stream {
		case "stdout":
			stdout = append(stdout, l.Text)
		case "stderr":
			sawStderr = sawStderr || l.Text == "to stderr"
		}
		if l.Time.IsZero() {
			t.Errorf("log line without time: %+v", l)
		}
	}
	for _, want := range []string{
		"argv=/app,report,two words",
		"uid=1000 gid=1000 groups=[2000]",
		"hostname=vm-test",
		"cwd=/home/app",
		"env GREETING=hi there",
		"env PORT=8080",
		"env HOME=/home/app",
	} {
		if !slices.Contains(stdout, want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, strings.Join(stdout, "\n"))
		}
	}
	if !sawStderr {
		t.Error("stderr line missing from the log")
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
