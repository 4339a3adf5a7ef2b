package node

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/vmm/vmmtest"
)

// imagesWith serves one image run configuration.
type imagesWith struct {
	fakeImages
	cfg image.ImageConfig
}

func (i imagesWith) RootDisk(context.Context, string, authn.Authenticator, ...image.Option) (*image.Disk, error) {
	return &image.Disk{Config: i.cfg}, nil
}

// TestSupervisorStopsWithImageStopSignal: an image's STOPSIGNAL (nginx
// stops gracefully on SIGQUIT, and SIGTERM makes it drop connections) is
// what a stop sends, not always SIGTERM.
func TestSupervisorStopsWithImageStopSignal(t *testing.T) {
	got := make(chan string, 1)
	h := newHarness(t, func(g *vmmtest.Guest) {
		boots(g)
		for m := range g.Msgs {
			if m.Kind == channel.KindSignal {
				got <- m.Signal
				g.Exit(0)
				return
			}
		}
	})
	a := h.agent(t)
	a.cfg.Images = imagesWith{cfg: image.ImageConfig{Entrypoint: []string{"/app"}, StopSignal: "SIGQUIT"}}
	d := h.desired()
	s, _ := start(t, a, d)
	waitUntil(t, 5*time.Second, "healthy", func() bool { return h.op.count(api.InstanceHealthy) >= 1 })
	s.stop()
	select {
	case sig := <-got:
		if sig != "SIGQUIT" {
			t.Errorf("stop sent %q, want the image's SIGQUIT", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal sent on stop")
	}
	<-s.done
}

func TestStopSignal(t *testing.T) {
	for image, want := range map[string]string{"": "TERM", "SIGQUIT": "SIGQUIT", "3": "3", "BOGUS": "TERM", "SIGINT": "SIGINT"} {
		if got := stopSignal(image); got != want {
			t.Errorf("stopSignal(%q) = %q, want %q", image, got, want)
		}
	}
}

// TestSupervisorSaysAppListensOnLoopback: an app that listens on
// 127.0.0.1 only cannot be reached; the failure must say so, not only that
// it "did not listen".
func TestSupervisorSaysAppListensOnLoopback(t *testing.T) {
	rep := failedStart(t, channel.Message{Kind: channel.KindLoopback, Address: "127.0.0.1:3000"})
	if !strings.Contains(rep.Reason, "app listens on 127.0.0.1:3000, on loopback only") ||
		!strings.Contains(rep.Reason, "0.0.0.0:") {
		t.Fatalf("reason %q, want it to say the app listens on loopback only", rep.Reason)
	}
}

// TestListenTimeoutSaysIPv6Only: an app that listens on [::] with
// IPV6_V6ONLY cannot be reached over IPv4; the failure must say so and what
// to change.
func TestListenTimeoutSaysIPv6Only(t *testing.T) {
	s := &supervisor{a: &Agent{}, rec: record{Desired: api.DesiredInstance{Port: 80}}}
	f := s.listenTimeout("", "[::]:80", "")
	if !strings.Contains(f.reason, "app listens on [::]:80 for IPv6 only") ||
		!strings.Contains(f.reason, "listen on 0.0.0.0:80 too or turn off ipv6only") {
		t.Fatalf("reason %q, want it to say the app listens for IPv6 only and what to do", f.reason)
	}
}

// TestExitReasonSaysOutOfMemory: an app the guest kernel killed for memory
// must not read as a plain crash with code 137.
func TestExitReasonSaysOutOfMemory(t *testing.T) {
	s := &supervisor{rec: record{Desired: api.DesiredInstance{MemoryMiB: 256}}}
	for _, tc := range []struct {
		m    channel.Message
		want string
	}{
		{channel.Message{ExitCode: 137, Signal: "SIGKILL", Reason: channel.ExitOutOfMemory},
			" (killed by the kernel, out of memory: the instance has 256 MiB; use less or raise it: zeitwork projects update <project> --memory <MiB>)"},
		{channel.Message{ExitCode: 139, Signal: "SIGSEGV"}, " (killed by SIGSEGV)"},
		{channel.Message{ExitCode: 1}, ""},
		{channel.Message{ExitCode: 127}, " (command not found: a program the app runs is not in the image or not in its PATH)"},
		{channel.Message{ExitCode: 126}, " (a program the app runs is not executable)"},
	} {
		if got := s.exitCause(tc.m); got != tc.want {
			t.Errorf("exitCause(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// TestSupervisorSaysAppListensOnAnotherPort: an app that listens on 80
// (nginx) while the project's port is another must be told which to change.
func TestSupervisorSaysAppListensOnAnotherPort(t *testing.T) {
	rep := failedStart(t, channel.Message{Kind: channel.KindOtherPort, Address: "0.0.0.0:80"})
	if want := "app listens on 0.0.0.0:80, not on its port"; !strings.Contains(rep.Reason, want) ||
		!strings.Contains(rep.Reason, "zeitwork projects update p --port 80") {
		t.Fatalf("reason %q, want %q and the command that sets the port", rep.Reason, want)
	}
}

// failedStart starts an instance whose guest says hello, starts its app
// and then sends note, while nothing listens where the health check
// connects; it returns the failure the agent reports when the start
// times out.
func failedStart(t *testing.T, note channel.Message) api.InstanceReport {
	t.Helper()
	h := newHarness(t, func(g *vmmtest.Guest) {
		<-g.Msgs
		g.Send(channel.Message{Kind: channel.KindHello, UptimeMS: 100})
		g.Send(channel.Message{Kind: channel.KindStarted, PID: 7})
		g.Send(note)
	})
	a := h.agent(t)
	a.cfg.StartTimeout = 500 * time.Millisecond
	d := h.desired()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	start(t, a, d)
	waitUntil(t, 10*time.Second, "a failed report", func() bool { return h.op.count(api.InstanceFailed) >= 1 })
	rep, _ := h.op.find(api.InstanceFailed)
	return rep
}
