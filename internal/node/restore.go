package node

import (
	"context"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/vmm"
)

// maxReasonDetail bounds the VMM's error text in an instance's reason.
const maxReasonDetail = 300

// startVM restores spec's VM from its template when the node has one, and
// boots it otherwise. A restore that fails (a damaged or stale template,
// a QEMU error, a timeout) is logged, noted for the instance's reason,
// and followed by a boot: a bad template must never block a deploy. The
// template is then removed and built again.
func (s *supervisor) startVM(ctx context.Context, spec vmm.Spec, timings map[string]time.Duration) (*vmm.Instance, error) {
	s.coldBoot, s.rebuild = "", nil
	if t := s.a.templates; t != nil {
		if dir := t.lookup(ctx, spec); dir != "" {
			start := time.Now()
			vm, err := t.restore(ctx, spec, dir)
			if err == nil {
				timings["template_restore"] = time.Since(start)
				s.a.metrics.starts.WithLabelValues("restore").Inc()
				return vm, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			s.log.Warn("restore from vm template failed; booting instead", "template", dir, "err", err)
			s.coldBoot = "template restore failed: " + truncate(strings.ReplaceAll(err.Error(), "\n", "; "), maxReasonDetail)
			s.a.metrics.starts.WithLabelValues("restore_failed").Inc()
			t.discard(dir)
			s.rebuild = &spec
		}
	}
	vm, err := s.a.cfg.Driver.Start(ctx, spec)
	if err == nil {
		s.a.metrics.starts.WithLabelValues("boot").Inc()
	}
	return vm, err
}

// bootReason is the instance's reason while it starts and once healthy:
// base, and why it booted when a template failed it.
func (s *supervisor) bootReason(base string) string {
	switch {
	case s.coldBoot == "":
		return base
	case base == "":
		return "cold boot: " + s.coldBoot
	default:
		return base + " (cold boot: " + s.coldBoot + ")"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// rebuildTemplate has the template that failed this instance built again,
// now that the instance no longer needs the CPU to boot.
func (s *supervisor) rebuildTemplate() {
	if s.rebuild != nil && s.a.templates != nil {
		s.a.templates.prepare(*s.rebuild)
	}
	s.rebuild = nil
}
