package qemu

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// BenchmarkVMStart measures QEMU start to the app's first HTTP response,
// a cold boot and a restore from a template in alternating rounds (so that
// both see the same machine load), and reports the mean of each:
//
//	go test -run '^$' -bench VMStart -benchtime 3x ./internal/vmm/qemu/
func BenchmarkVMStart(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	d, err := New(Config{StateDir: b.TempDir(), CgroupParent: testCgroupParent})
	if err != nil {
		b.Fatal(err)
	}
	ns := snapNetNS(b, 1)
	tmpl := filepath.Join(b.TempDir(), "tmpl")
	if err := d.BuildTemplate(ctx, baseSpec("tmpl", ""), tmpl); err != nil {
		b.Fatal(err)
	}
	var cold, restored time.Duration
	b.ResetTimer()
	for i := range b.N {
		for _, restore := range []bool{false, true} {
			took, err := startToResponse(ctx, b, d, ns, tmpl, fmt.Sprintf("bench%d-%v", i, restore), restore)
			if err != nil {
				b.Fatal(err)
			}
			if restore {
				restored += took
			} else {
				cold += took
			}
		}
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "ms/cold-boot")
	b.ReportMetric(float64(restored.Milliseconds())/float64(b.N), "ms/restore")
}

// startToResponse starts one VM (booted or restored), configures it and
// returns the time from the start to its first HTTP response.
func startToResponse(ctx context.Context, tb testing.TB, d *Driver, ns, tmpl, id string, restore bool) (time.Duration, error) {
	spec := baseSpec(id, makeRootDisk(tb))
	spec.Network = vmm.NetworkSpec{TapName: "zwsnap0", MAC: snapMAC(0), NetNS: ns}
	start := time.Now()
	var inst *vmm.Instance
	var err error
	if restore {
		inst, err = d.Restore(ctx, spec, tmpl)
	} else {
		inst, err = d.Start(ctx, spec)
	}
	if err != nil {
		return 0, err
	}
	defer d.Destroy(context.Background(), inst.ID)
	c, err := channel.Dial(ctx, inst.ControlSocket)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cfg := withPort(baseConfig("/app", "serve"), 8080)
	cfg.Network = channel.Network{Address: "10.251.0.2/24", Gateway: "10.251.0.1", MAC: snapMAC(0)}
	if err := c.Send(channel.Message{Kind: channel.KindConfig, Config: cfg}); err != nil {
		return 0, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialInNetNS(ns)}, Timeout: time.Second}
	for ctx.Err() == nil {
		if resp, err := client.Get("http://10.251.0.2:8080/"); err == nil {
			resp.Body.Close()
			return time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, ctx.Err()
}
