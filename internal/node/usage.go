package node

import (
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/procstat"
)

// apiUsage is the sample as reported to the operator; cpu is the share of
// a core over the window that ended with cur (negative: not known yet).
func apiUsage(cur procstat.Sample, cpu float64) *api.InstanceUsage {
	u := &api.InstanceUsage{
		RSSBytes: cur.RSS, PSSBytes: cur.PSS, USSBytes: cur.USS, SharedBytes: cur.Shared,
		SampledAt: cur.At.UTC().Truncate(time.Second),
	}
	if cpu >= 0 {
		u.CPUPercent = &cpu
	}
	return u
}

// usageMoved reports whether a new usage sample says enough that is new to
// be worth a write on the operator: a report per instance per interval
// would be hundreds of writes a minute on a full node.
func usageMoved(last, cur *api.InstanceUsage) bool {
	if last == nil {
		return true
	}
	const mib = 1 << 20
	diff := func(a, b uint64) uint64 {
		if a > b {
			return a - b
		}
		return b - a
	}
	if diff(last.USSBytes, cur.USSBytes) >= mib || diff(last.PSSBytes, cur.PSSBytes) >= mib ||
		diff(last.SharedBytes, cur.SharedBytes) >= mib || diff(last.RSSBytes, cur.RSSBytes) >= mib {
		return true
	}
	if (last.CPUPercent == nil) != (cur.CPUPercent == nil) {
		return true
	}
	if cur.CPUPercent != nil && abs(*cur.CPUPercent-*last.CPUPercent) >= 0.1 {
		return true
	}
	return cur.SampledAt.Sub(last.SampledAt) >= usageRefresh
}

// usageRefresh is how old the operator's copy may get when nothing moved.
const usageRefresh = 5 * time.Minute

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
