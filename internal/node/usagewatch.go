package node

import (
	"context"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/procstat"
)

// defaultUsageInterval is Config.UsageInterval's default.
const defaultUsageInterval = 15 * time.Second

func (a *Agent) usageInterval() time.Duration {
	if a.cfg.UsageInterval <= 0 {
		return defaultUsageInterval
	}
	return a.cfg.UsageInterval
}

// instanceUsage is a supervisor's latest usage sample, for metrics.
type instanceUsage struct {
	usage *api.InstanceUsage
	cpu   time.Duration // cumulative, for the counter
	// labels are the metrics' instance_id, deployment and project.
	labels []string
}

// sampleUsage reads the VM's memory and CPU and remembers them for the
// metrics. The CPU share is over the window since the previous sample of
// the same VM; the first sample of a VM has none. It returns nil when the
// process cannot be read (the VM just ended: the watch loop notices).
func (s *supervisor) sampleUsage() *api.InstanceUsage {
	if s.vm == nil || s.vm.PID <= 0 {
		return nil
	}
	cur, err := procstat.Read(s.vm.PID)
	if err != nil {
		s.log.Debug("sample vm usage", "err", err)
		return nil
	}
	cpu := -1.0
	if s.usagePrev.pid == s.vm.PID && !s.usagePrev.s.At.IsZero() {
		cpu = procstat.CPUPercent(s.usagePrev.s, cur)
	}
	s.usagePrev.pid, s.usagePrev.s = s.vm.PID, cur
	u := apiUsage(cur, cpu)
	s.mu.Lock()
	d := s.rec.Desired
	s.usage = &instanceUsage{usage: u, cpu: cur.CPU, labels: []string{d.ID, d.Deployment, d.Project}}
	s.mu.Unlock()
	return u
}

// reportUsage samples the VM and tells the operator when the figures moved.
// The report carries no state: the operator may have moved the instance
// on (lost, stopping) since the node last said it was healthy, and a
// usage report must never say so again.
func (s *supervisor) reportUsage() {
	u := s.sampleUsage()
	if u == nil || !usageMoved(s.usageSent, u) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if err := s.a.client.report(ctx, s.rec.Desired.ID, api.InstanceReport{Usage: u}); err != nil {
		s.log.Debug("report vm usage", "err", err)
		return
	}
	s.usageSent = u
}

// clearUsage forgets the samples of a VM that is gone.
func (s *supervisor) clearUsage() {
	s.usagePrev.pid, s.usageSent = 0, nil
	s.mu.Lock()
	s.usage = nil
	s.mu.Unlock()
}

// currentUsage is the latest sample, or nil.
func (s *supervisor) currentUsage() *instanceUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}
