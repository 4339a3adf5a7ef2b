package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/vmm"
)

// Health checking: the guest tells us when the app listens, but the check
// that counts is a TCP connection from the host to the app's port, the same
// path edge traffic takes.
const (
	healthInterval = 2 * time.Second
	// startProbeInterval is how often a starting instance is probed until
	// its first check passes: a deploy, a wake and a scale-up all wait for
	// that check, so it runs often while it matters and at healthInterval
	// after. The probes of one start are a few dozen local connections.
	startProbeInterval = 25 * time.Millisecond
	healthFailures     = 3 // consecutive failed checks that make an instance fail
	dialTimeout        = time.Second
)

// waitHealthy waits until the app accepts TCP connections on its port.
func (s *supervisor) waitHealthy(ctx context.Context, exited <-chan vmm.ExitStatus, timings map[string]time.Duration) error {
	deadline := time.NewTimer(s.a.cfg.StartTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(s.a.startProbeInterval())
	defer poll.Stop()
	// A freshly booted guest is probed only once its init has configured
	// the network and started the app ("started"): a SYN sent earlier is
	// dropped unanswered and its retransmission would delay the first
	// successful check by a second. Adopted VMs are up already.
	probing := s.vmStarted.IsZero()
	// Where the guest saw the app listen instead: on loopback only, for
	// IPv6 only, or on another port.
	var loopback, v6only, otherPort string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st := <-exited:
			return s.exitFailure(st)
		case <-deadline.C:
			return s.listenTimeout(loopback, v6only, otherPort)
		case m, ok := <-s.msgs:
			if !ok {
				s.msgs = nil // the VM is going away; exited will tell why
				continue
			}
			if f := s.onMessage(m); f != nil {
				return f
			}
			switch m.Kind {
			case channel.KindLoopback:
				loopback = m.Address
			case channel.KindIPv6Only:
				v6only = m.Address
			case channel.KindOtherPort:
				otherPort = m.Address
			}
			if m.Kind == channel.KindHello && !s.vmStarted.IsZero() {
				timings["vm_to_init"] = time.Since(s.vmStarted)
			}
			s.noteUptime(m, timings)
			if m.Kind == channel.KindStarted || m.Kind == channel.KindListening {
				probing = true
			}
			// The guest saw the app listen: check now, not at the next tick.
			if m.Kind == channel.KindListening && s.probe(ctx) == nil {
				s.noteHealthy(timings)
				return nil
			}
		case <-poll.C:
			if probing && s.probe(ctx) == nil {
				s.noteHealthy(timings)
				return nil
			}
		}
	}
}

// listenTimeout explains an app that did not become reachable in time:
// the guest saw it listen on loopback only (loopback), on an IPv6 socket
// with IPV6_V6ONLY (v6only), on another port (other), or not at all.
func (s *supervisor) listenTimeout(loopback, v6only, other string) *failure {
	port, timeout := s.rec.Desired.Port, s.a.cfg.StartTimeout
	if loopback != "" {
		return &failure{reason: fmt.Sprintf("app listens on %s, on loopback only, where the platform cannot reach it: listen on 0.0.0.0:%d or [::]:%d (the port is in $PORT)%s",
			loopback, port, port, s.logs.lastLines(" (last output: %s)"))}
	}
	if v6only != "" {
		return &failure{reason: fmt.Sprintf("app listens on %s for IPv6 only, where the platform cannot reach it over IPv4: listen on 0.0.0.0:%d too or turn off ipv6only (nginx: listen [::]:%d ipv6only=off;)%s",
			v6only, port, port, s.logs.lastLines(" (last output: %s)"))}
	}
	if ap, err := netip.ParseAddrPort(other); err == nil {
		return &failure{reason: fmt.Sprintf("app listens on %s, not on its port %d: make it listen on $PORT, or set the project's port: zeitwork projects update %s --port %d%s",
			other, port, s.rec.Desired.Project, ap.Port(), s.logs.lastLines(" (last output: %s)"))}
	}
	return &failure{reason: fmt.Sprintf("app did not listen on port %d within %s; it must listen on 0.0.0.0 or [::] at $PORT%s",
		port, timeout, s.logs.lastLines(" (last output: %s)"))}
}

// noteHealthy records vm_to_healthy for a VM this attempt started.
func (s *supervisor) noteHealthy(timings map[string]time.Duration) {
	if !s.vmStarted.IsZero() {
		timings["vm_to_healthy"] = time.Since(s.vmStarted)
	}
}

func (a *Agent) startProbeInterval() time.Duration {
	if a.startProbe <= 0 {
		return startProbeInterval
	}
	return a.startProbe
}

// noteUptime records init_to_listening from the guest's own clock: the
// guest may notice its app listening after the host's probe already passed.
func (s *supervisor) noteUptime(m channel.Message, timings map[string]time.Duration) bool {
	switch m.Kind {
	case channel.KindHello:
		s.helloUptime = m.UptimeMS
	case channel.KindListening:
		if s.helloUptime > 0 && m.UptimeMS >= s.helloUptime {
			timings["init_to_listening"] = time.Duration(m.UptimeMS-s.helloUptime) * time.Millisecond
			return true
		}
	}
	return false
}

// watch checks a healthy instance until it fails or ctx ends.
func (s *supervisor) watch(ctx context.Context, exited <-chan vmm.ExitStatus, timings map[string]time.Duration) error {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	// The first sample starts the CPU window; the first report waits for
	// the second, which has a CPU share.
	s.sampleUsage()
	usage := time.NewTicker(s.a.usageInterval())
	defer usage.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-usage.C:
			s.reportUsage()
		case st := <-exited:
			return s.exitFailure(st)
		case m, ok := <-s.msgs:
			if !ok {
				s.msgs = nil
				continue
			}
			if f := s.onMessage(m); f != nil {
				return f
			}
			// The guest may say it listens any number of times; its boot
			// timing is worth one report.
			_, had := timings["init_to_listening"]
			if s.noteUptime(m, timings) && !had {
				s.report(api.InstanceReport{State: api.InstanceHealthy, Reason: s.bootReason(""), Timings: timings})
			}
		case <-t.C:
			if err := s.probe(ctx); err != nil {
				fails++
				if fails >= healthFailures {
					return &failure{reason: fmt.Sprintf("health check failed %d times: %v", fails, err)}
				}
				continue
			}
			fails = 0
		}
	}
}

// probe checks the app once: a TCP connection, or an HTTP GET of the
// project's health path answering 2xx or 3xx.
func (s *supervisor) probe(ctx context.Context) error {
	addr := net.JoinHostPort(s.rec.Address, fmt.Sprint(s.rec.Desired.Port))
	if path := s.rec.Desired.HealthPath; path != "" {
		ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "zeitwork-health/1")
		resp, err := healthClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("GET %s answered %s", path, resp.Status)
		}
		return nil
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// healthClient never follows redirects (3xx is healthy) and keeps no
// connections: each check is a fresh one, as a new visitor's would be.
var healthClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableKeepAlives: true},
}

// onMessage turns guest messages that end an attempt into failures.
func (s *supervisor) onMessage(m channel.Message) *failure {
	switch m.Kind {
	case channel.KindError:
		// The guest init could not start the app: bad image config, missing
		// binary. Retrying the same image cannot help.
		return &failure{reason: "guest: " + m.Error, permanent: true}
	case channel.KindExit:
		return &failure{reason: fmt.Sprintf("app exited with code %d%s%s", m.ExitCode, s.exitCause(m), s.logs.lastLines(": %s"))}
	}
	return nil
}

// exitCause explains an exit the guest knows more about: the signal that
// killed the app, and the out-of-memory killer with the instance's memory.
func (s *supervisor) exitCause(m channel.Message) string {
	switch {
	case m.Reason == channel.ExitOutOfMemory:
		return fmt.Sprintf(" (killed by the kernel, out of memory: the instance has %d MiB; use less or raise it: zeitwork projects update <project> --memory <MiB>)",
			max(s.rec.Desired.MemoryMiB, 128))
	case m.Signal != "":
		return fmt.Sprintf(" (killed by %s)", m.Signal)
	case m.ExitCode == 127: // a shell's "command not found"
		return " (command not found: a program the app runs is not in the image or not in its PATH)"
	case m.ExitCode == 126: // a shell's "cannot execute"
		return " (a program the app runs is not executable)"
	}
	return ""
}

// exitFailure explains a VM that went away without the guest saying why.
func (s *supervisor) exitFailure(st vmm.ExitStatus) *failure {
	// The guest's last message may still be in flight behind the exit.
	grace := time.After(300 * time.Millisecond)
drain:
	for s.msgs != nil {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				break drain
			}
			if f := s.onMessage(m); f != nil {
				return f
			}
		case <-grace:
			break drain
		}
	}
	if st.Err != nil {
		return &failure{reason: fmt.Sprintf("vm failed: %v", st.Err)}
	}
	return &failure{reason: fmt.Sprintf("vm stopped unexpectedly (vmm exit code %d)", st.Code)}
}

// guestConfig merges the image's run configuration with the platform's.
func guestConfig(d api.DesiredInstance, img image.ImageConfig) channel.Config {
	env := mergeEnv(img.Env, d.Env, []string{fmt.Sprintf("PORT=%d", d.Port)})
	return channel.Config{
		InstanceID: d.ID,
		RootDevice: "/dev/vda",
		Argv:       img.Argv(),
		Env:        env,
		WorkingDir: img.WorkingDir,
		User:       img.User,
		Port:       d.Port,
		Entropy:    randomBytes(64),
	}
}

// mergeEnv overlays env lists; later lists win, order of first appearance kept.
func mergeEnv(lists ...[]string) []string {
	index := map[string]int{}
	var out []string
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := index[k]; ok {
				out[i] = kv
				continue
			}
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}
