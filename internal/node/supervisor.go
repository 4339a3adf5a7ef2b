package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/node/network"
	"github.com/zeitwork/zeitwork/internal/procstat"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// supervisor runs one instance: it boots the VM, waits for the app to be
// healthy, watches it, restarts it with backoff when it fails, and tears
// everything down when the instance is stopped.
type supervisor struct {
	a   *Agent
	ctx context.Context // the agent's: when it ends, the VM is left running
	log *slog.Logger

	rec  record
	env  *instanceEnv
	vm   *vmm.Instance
	tap  *network.Tap
	conn *channel.Conn
	msgs chan channel.Message
	logs *logTail
	// releaseDisk ends the hold on the cached root disk (nil: none held).
	releaseDisk func()
	// logsDone is closed when the current attempt's log shipper has
	// shipped its final lines.
	logsDone chan struct{}

	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// coldBoot says why the VM booted although a template existed ("":
	// it did not, or it was restored), for the instance's reason; rebuild
	// is the shape whose template then failed, built again once healthy.
	coldBoot string
	rebuild  *vmm.Spec

	// vmStarted is when the VMM was started and helloUptime the guest's
	// uptime when its init said hello, for boot timings.
	vmStarted   time.Time
	helloUptime int64

	// usagePrev is the VM's last usage sample, the start of the next CPU
	// window; usageSent the usage last reported to the operator.
	usagePrev struct {
		pid int
		s   procstat.Sample
	}
	usageSent *api.InstanceUsage

	mu      sync.Mutex
	healthy bool
	state   string // as last reported, for metrics
	// last is the last report sent; an identical one is not sent again.
	last api.InstanceReport
	// usage is the VM's latest usage sample, for the metrics.
	usage *instanceUsage

	// directAddr is where the direct transport publishes the instance
	// ("": not published), sent with every report.
	directAddr string
}

// failure is why an attempt to run the instance ended.
type failure struct {
	reason    string
	permanent bool
}

func (f *failure) Error() string { return f.reason }

func (a *Agent) newSupervisor(ctx context.Context, rec record, vm *vmm.Instance) *supervisor {
	return &supervisor{
		a: a, ctx: ctx, rec: rec, vm: vm, env: newInstanceEnv(),
		log:    a.log.With("instance", rec.Desired.ID, "deployment", rec.Desired.Deployment),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
}

func (s *supervisor) stop() { s.stopOnce.Do(func() { close(s.stopCh) }) }

func (s *supervisor) stopping() bool {
	select {
	case <-s.stopCh:
		return true
	default:
		return false
	}
}

// backend is the app's address while the instance is healthy.
func (s *supervisor) backend() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// rec is only written while the instance is not healthy, so it is read
	// only once healthy is seen under the lock.
	if !s.healthy {
		return "", false
	}
	addr, err := netip.ParseAddr(s.rec.Address)
	if err != nil {
		return "", false
	}
	return netip.AddrPortFrom(addr, uint16(s.rec.Desired.Port)).String(), true
}

func (s *supervisor) setHealthy(h bool) {
	s.mu.Lock()
	s.healthy = h
	s.mu.Unlock()
}

// currentState is the state the supervisor last reported.
func (s *supervisor) currentState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// report tells the operator the instance's state. A report that says
// nothing new is not sent: each one is a write and a notification on the
// operator, and the guest decides how often some of them would happen.
func (s *supervisor) report(rep api.InstanceReport) {
	rep.Address = s.rec.Address
	rep.Restarts = s.rec.Restarts
	s.mu.Lock()
	s.state = rep.State
	rep.DirectAddr = s.directAddr
	same := len(rep.Timings) == 0 && s.last.State == rep.State && s.last.Reason == rep.Reason &&
		s.last.Address == rep.Address && s.last.Restarts == rep.Restarts && s.last.Permanent == rep.Permanent &&
		s.last.DirectAddr == rep.DirectAddr
	s.last = rep
	s.mu.Unlock()
	if same {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if err := s.a.client.report(ctx, s.rec.Desired.ID, rep); err != nil {
		s.log.Warn("report instance state", "state", rep.State, "err", err)
	}
}

func (s *supervisor) run() {
	defer close(s.done)
	backoff := s.a.backoffMin
	for attempt := 0; ; attempt++ {
		if s.stopping() {
			s.teardown()
			s.report(api.InstanceReport{State: api.InstanceStopped, Reason: "stopped"})
			s.a.forget(s.rec.Desired.ID)
			return
		}
		if s.ctx.Err() != nil {
			s.detach()
			return
		}
		if attempt > 0 {
			s.a.metrics.restarts.Inc()
		}
		started := time.Now()
		err := s.runOnce()
		if s.ctx.Err() != nil {
			s.detach() // agent shutting down: leave the VM running
			return
		}
		if s.stopping() {
			continue
		}
		var f *failure
		if !errors.As(err, &f) {
			f = &failure{reason: err.Error()}
		}
		s.a.metrics.failures.Inc()
		s.setHealthy(false)
		s.destroyVM()
		s.rec.Restarts++
		s.saveRecord()
		s.log.Warn("instance failed", "reason", f.reason, "restarts", s.rec.Restarts)
		s.report(api.InstanceReport{State: api.InstanceFailed, Reason: f.reason, Permanent: f.permanent})
		if time.Since(started) > time.Minute {
			backoff = s.a.backoffMin
		}
		retry := time.After(backoff)
		if f.permanent {
			// A retry cannot fix it: stay failed until stopped.
			s.log.Warn("instance failed permanently; not restarting it", "reason", f.reason)
			retry = nil
		}
		select {
		case <-s.stopCh:
		case <-s.ctx.Done():
		case <-retry:
		}
		backoff = min(backoff*2, s.a.backoffMax)
	}
}

// runOnce boots (or adopts) the VM and watches it until it fails, a stop is
// requested, or the agent shuts down.
func (s *supervisor) runOnce() error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer s.waitLogs()
	defer cancel()
	go func() {
		select {
		case <-s.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	timings := map[string]time.Duration{}
	if s.vm == nil {
		if err := s.boot(ctx, timings); err != nil {
			return err
		}
	} else if err := s.attach(ctx); err != nil {
		return err
	}
	exited := make(chan vmm.ExitStatus, 1)
	go func() {
		st, err := s.a.cfg.Driver.Wait(ctx, s.rec.Desired.ID)
		if err == nil {
			exited <- st
		}
	}()
	if err := s.waitHealthy(ctx, exited, timings); err != nil {
		return err
	}
	s.setHealthy(true)
	if !s.vmStarted.IsZero() {
		s.a.metrics.boot.Observe(time.Since(s.vmStarted).Seconds())
	}
	s.log.Info("instance healthy", "address", s.rec.Address, "timings", timings)
	s.rebuildTemplate()
	s.publish()
	s.report(api.InstanceReport{State: api.InstanceHealthy, Reason: s.bootReason(""), Timings: timings})
	return s.watch(ctx, exited, timings)
}

// boot prepares the disk and tap and starts the VM, recording stage times.
func (s *supervisor) boot(ctx context.Context, timings map[string]time.Duration) error {
	d := s.rec.Desired
	env, err := s.env.wait(ctx)
	if err != nil {
		return &failure{reason: "waiting for the instance's env vars from the operator"}
	}
	d.Env = env
	s.report(api.InstanceReport{State: api.InstanceStarting, Reason: "pulling image"})
	t0 := time.Now()
	disk, err := s.a.cfg.Images.RootDisk(ctx, d.Image, nil, s.a.pullOptions(s.env.login())...)
	if err != nil {
		// The reason reaches users: never what the registry answered.
		s.log.Warn("pull image", "image", d.Image, "err", err)
		return &failure{reason: fmt.Sprintf("pull image %s: %s", d.Image, image.PullReason(err))}
	}
	s.holdDisk(disk.Digest, disk.Release)
	timings["image_resolve"] = disk.Timings.Resolve
	timings["image_unpack"] = disk.Timings.Unpack
	timings["rootfs_build"] = disk.Timings.Build
	cfg := guestConfig(d, disk.Config)
	s.rec.StopSignal = stopSignal(disk.Config.StopSignal)
	if len(cfg.Argv) == 0 {
		return &failure{reason: "image has no entrypoint or cmd: set ENTRYPOINT or CMD", permanent: true}
	}
	t1 := time.Now()
	s.rec.Disk = filepath.Join(s.a.cfg.StateDir, "disks", d.ID+".ext4")
	if _, err := s.a.cfg.Images.CopyForVM(ctx, disk, s.rec.Disk); err != nil {
		return &failure{reason: fmt.Sprintf("copy root disk: %v", err)}
	}
	timings["disk_copy"] = time.Since(t1)
	s.a.metrics.imagePrepare.Observe(time.Since(t0).Seconds())
	if s.tap == nil {
		prev, _ := netip.ParseAddr(s.rec.Address)
		tap, err := s.a.cfg.Network.CreateTap(d.ID, prev)
		if err != nil {
			return &failure{reason: fmt.Sprintf("network: %v", err)}
		}
		s.tap = tap
		s.rec.Address = tap.Address.Addr().String()
	}
	if err := s.saveRecord(); err != nil {
		return err
	}
	cfg.Network = channel.Network{
		Address: s.tap.Address.String(), Gateway: s.tap.Gateway.String(), DNS: s.a.cfg.Network.DNS(),
	}
	cfg.Network.MAC = s.tap.MAC
	cfg.Hostname = d.Project + "-" + d.ID[:8]
	t2 := time.Now()
	vm, err := s.startVM(ctx, vmm.Spec{
		ID: d.ID, Kernel: s.a.cfg.Kernel, Initrd: s.a.cfg.Initrd, RootDisk: s.rec.Disk,
		MemoryMiB: max(d.MemoryMiB, 128), VCPUs: max(d.VCPUs, 1),
		Network: vmm.NetworkSpec{TapName: s.tap.Name, MAC: s.tap.MAC, NetNS: s.tap.NetNS},
	}, timings)
	if err != nil {
		return &failure{reason: fmt.Sprintf("start vm: %v", err)}
	}
	s.vm = vm
	if err := s.connect(ctx); err != nil {
		return err
	}
	cfg.Time = time.Now()
	if err := s.conn.Send(channel.Message{Kind: channel.KindConfig, Config: &cfg}); err != nil {
		return &failure{reason: fmt.Sprintf("send config to guest: %v", err)}
	}
	// After the Config, not before: the report is a round trip to the
	// operator, and a restored guest waits for nothing else.
	s.report(api.InstanceReport{State: api.InstanceStarting, Reason: s.bootReason("booting"), DiskMiB: int((disk.Size + 1<<20 - 1) >> 20)})
	timings["prepare_total"] = t2.Sub(t0)
	s.vmStarted = t2
	return nil
}

// attach re-connects to an adopted VM.
func (s *supervisor) attach(ctx context.Context) error {
	if s.releaseDisk == nil && s.rec.ImageDigest != "" {
		s.holdDisk(s.rec.ImageDigest, s.a.cfg.Images.Hold(s.rec.ImageDigest))
	}
	if a, err := netip.ParseAddr(s.rec.Address); err == nil {
		tap, err := s.a.cfg.Network.CreateTap(s.rec.Desired.ID, a)
		if err != nil {
			return &failure{reason: fmt.Sprintf("network: %v", err)}
		}
		s.tap = tap
	}
	return s.connect(ctx)
}

// connect dials the VM's control socket and starts reading its messages and
// its log file.
func (s *supervisor) connect(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := channel.Dial(ctx, s.vm.ControlSocket)
		if err == nil {
			s.conn = conn
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return &failure{reason: fmt.Sprintf("connect to guest: %v", err)}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.msgs = make(chan channel.Message, 16)
	go s.readMessages(ctx, s.conn, s.msgs)
	if s.logs == nil || s.logs.path != s.vm.LogPath {
		s.logs = newLogTail(s.vm.LogPath, s.rec.LogOffset, s.rec.Desired.ID, s.a.cfg.LogLimits)
		s.logs.console = s.vm.ConsolePath
		s.logs.onDrop = func(reason string, n int) { s.a.metrics.logsDropped.WithLabelValues(reason).Add(float64(n)) }
	}
	done := make(chan struct{})
	s.logsDone = done
	go func(t *logTail) { defer close(done); t.run(ctx, s.a.client, s.log) }(s.logs)
	return nil
}

// readMessages passes the guest's messages to the attempt until the
// connection ends or the attempt does: nobody reads out after runOnce
// returns, so a send must not outlive ctx.
func (s *supervisor) readMessages(ctx context.Context, conn *channel.Conn, out chan<- channel.Message) {
	defer close(out)
	for {
		m, err := conn.Receive()
		if err != nil {
			return
		}
		s.log.Debug("guest message", "kind", m.Kind, "uptime_ms", m.UptimeMS)
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// waitLogs waits for the attempt's log shipper to ship its final lines.
func (s *supervisor) waitLogs() {
	if s.logsDone != nil {
		<-s.logsDone
		s.logsDone = nil
	}
}

// detach closes the agent's side without touching the VM.
func (s *supervisor) detach() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.saveRecord()
	s.dropDisk() // the next agent holds it again when it adopts the VM
}

// saveRecord persists the instance record with how far its log was shipped.
func (s *supervisor) saveRecord() error {
	if s.logs != nil {
		s.rec.LogOffset = s.logs.currentOffset()
	}
	return s.a.records.save(s.rec)
}

func (s *supervisor) destroyVM() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	ctx := context.WithoutCancel(s.ctx)
	if err := s.a.cfg.Driver.Destroy(ctx, s.rec.Desired.ID); err != nil && !errors.Is(err, vmm.ErrNotFound) {
		s.log.Warn("destroy vm", "err", err)
	}
	s.vm = nil
	s.clearUsage()
	if s.rec.Disk != "" {
		os.Remove(s.rec.Disk)
	}
	s.rec.LogOffset = 0
	s.logs = nil
}

// stopSignal is the signal that asks the app to stop: the image's
// STOPSIGNAL (nginx's SIGQUIT, a SIGINT for apps that only handle Ctrl-C)
// when it names one, else SIGTERM, as Docker does.
func stopSignal(image string) string {
	if _, ok := channel.ParseSignal(image); ok {
		return image
	}
	return "TERM"
}

// teardown stops the app gracefully (its stop signal, then up to 10 s to
// exit), then removes the VM, tap and disk.
func (s *supervisor) teardown() {
	s.setHealthy(false)
	if s.conn != nil && s.vm != nil {
		s.conn.Send(channel.Message{Kind: channel.KindSignal, Signal: stopSignal(s.rec.StopSignal)})
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		s.a.cfg.Driver.Wait(ctx, s.rec.Desired.ID)
		cancel()
	}
	s.unpublish()
	s.destroyVM()
	var addr netip.Addr
	if a, err := netip.ParseAddr(s.rec.Address); err == nil {
		addr = a
	}
	if err := s.a.cfg.Network.DeleteTap(s.rec.Desired.ID, addr); err != nil {
		s.log.Warn("delete tap", "err", err)
	}
	s.dropDisk()
	s.a.records.remove(s.rec.Desired.ID)
	s.log.Info("instance stopped")
}

// holdDisk keeps the cached root disk of digest from eviction while the
// instance runs on it (a restart needs it again), ending any earlier hold.
func (s *supervisor) holdDisk(digest string, release func()) {
	s.dropDisk()
	s.rec.ImageDigest, s.releaseDisk = digest, release
}

// dropDisk ends the hold on the cached root disk, if any.
func (s *supervisor) dropDisk() {
	if s.releaseDisk != nil {
		s.releaseDisk()
		s.releaseDisk = nil
	}
}
