package node

import (
	"context"
	"fmt"
	"net"
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
	healthFailures = 3 // consecutive failed checks that make an instance fail
	dialTimeout    = time.Second
)

// waitHealthy waits until the app accepts TCP connections on its port.
func (s *supervisor) waitHealthy(ctx context.Context, exited <-chan vmm.ExitStatus, timings map[string]time.Duration) error {
	deadline := time.NewTimer(s.a.cfg.StartTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	var hello time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st := <-exited:
			return s.exitFailure(st)
		case <-deadline.C:
			return &failure{reason: fmt.Sprintf("app did not listen on port %d within %s%s",
				s.rec.Desired.Port, s.a.cfg.StartTimeout, s.logs.lastLines(" (last output: %s)"))}
		case m, ok := <-s.msgs:
			if !ok {
				s.msgs = nil // the VM is going away; exited will tell why
				continue
			}
			if f := s.onMessage(m); f != nil {
				return f
			}
			switch m.Kind {
			case channel.KindHello:
				hello = time.Now()
				if !s.vmStarted.IsZero() {
					timings["vm_to_init"] = hello.Sub(s.vmStarted)
				}
			case channel.KindListening:
				if !hello.IsZero() {
					timings["init_to_listening"] = time.Since(hello)
				}
			}
		case <-poll.C:
			if s.probe(ctx) == nil {
				if !s.vmStarted.IsZero() {
					timings["vm_to_healthy"] = time.Since(s.vmStarted)
				}
				return nil
			}
		}
	}
}

// watch checks a healthy instance until it fails or ctx ends.
func (s *supervisor) watch(ctx context.Context, exited <-chan vmm.ExitStatus) error {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
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

func (s *supervisor) probe(ctx context.Context) error {
	addr := net.JoinHostPort(s.rec.Address, fmt.Sprint(s.rec.Desired.Port))
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// onMessage turns guest messages that end an attempt into failures.
func (s *supervisor) onMessage(m channel.Message) *failure {
	switch m.Kind {
	case channel.KindError:
		// The guest init could not start the app: bad image config, missing
		// binary. Retrying the same image cannot help.
		return &failure{reason: "guest: " + m.Error, permanent: true}
	case channel.KindExit:
		return &failure{reason: fmt.Sprintf("app exited with code %d%s", m.ExitCode, s.logs.lastLines(": %s"))}
	}
	return nil
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
