package qemu

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

func TestScratchTiming(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newDriver(t, t.TempDir())
	d.Probe(ctx, testKernel.Vmlinux, testKernel.Initrd)
	spec := baseSpec("scr", makeRootDisk(t))
	spec.KernelArgs = os.Getenv("ZW_ARGS")
	start := time.Now()
	inst, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start returned after %v", time.Since(start))
	defer d.Destroy(context.Background(), inst.ID)
	g := dialGuest(ctx, t, inst)
	hello := g.expect(ctx, t, inst, channel.KindHello)
	t.Logf("start -> hello %v uptime %d", hello.at.Sub(start), hello.UptimeMS)
	g.c.Send(channel.Message{Kind: channel.KindConfig, Config: withPort(baseConfig("/app", "serve"), 8080)})
	l := g.expect(ctx, t, inst, channel.KindListening)
	t.Logf("hello -> listening %v uptime %d", l.at.Sub(hello.at), l.UptimeMS)
	t.Logf("rss %d MiB", rssMiB(t, inst.PID))
	b, _ := os.ReadFile("/proc/" + itoa(inst.PID) + "/smaps_rollup")
	t.Logf("%s", b)
	t.Logf("console:\n%s", readFile(inst.ConsolePath))
}
func itoa(i int) string { return strconv.Itoa(i) }
