package node

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// usageSample is what one read of a VMM process's /proc files gives.
type usageSample struct {
	at time.Time
	// Memory in bytes, from smaps_rollup: RSS counts every resident page;
	// PSS divides each shared page among the processes mapping it; USS
	// (Private_*) is what only this VM holds, the memory freed when it
	// ends; Shared (Shared_*) is what it maps together with others (QEMU's
	// code and libraries, and later a template's guest pages).
	rss, pss, uss, shared uint64
	// cpu is the process's user plus system time, all threads.
	cpu time.Duration
}

// readUsage samples the VMM process pid. Guest RAM is a memfd that only
// this process maps, so every guest page it touched counts as unique.
func readUsage(pid int) (usageSample, error) {
	s := usageSample{at: time.Now()}
	dir := "/proc/" + strconv.Itoa(pid)
	f, err := os.Open(dir + "/smaps_rollup")
	if err != nil {
		return s, fmt.Errorf("read vm memory: %w", err)
	}
	err = parseSmapsRollup(f, &s)
	f.Close()
	if err != nil {
		return s, fmt.Errorf("read vm memory of pid %d: %w", pid, err)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("read vm cpu time: %w", err)
	}
	if s.cpu, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("read vm cpu time of pid %d: %w", pid, err)
	}
	return s, nil
}

// parseSmapsRollup fills the memory fields from /proc/PID/smaps_rollup,
// whose values are in kB.
func parseSmapsRollup(r io.Reader, s *usageSample) error {
	sc := bufio.NewScanner(r)
	seen := false
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		b := kb * 1024
		switch k {
		case "Rss":
			s.rss, seen = b, true
		case "Pss":
			s.pss = b
		case "Private_Clean", "Private_Dirty":
			s.uss += b
		case "Shared_Clean", "Shared_Dirty":
			s.shared += b
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !seen {
		return fmt.Errorf("no Rss line in smaps_rollup")
	}
	return nil
}

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Zeitwork runs on (it is part of the kernel's ABI).
const clockTick = 10 * time.Millisecond

// parseStatCPU reads utime and stime (fields 14 and 15) from
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat times")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// cpuPercent is the share of one core the process used between two
// samples, in percent.
func cpuPercent(prev, cur usageSample) float64 {
	wall := cur.at.Sub(prev.at)
	if wall <= 0 || cur.cpu < prev.cpu {
		return 0
	}
	return 100 * float64(cur.cpu-prev.cpu) / float64(wall)
}

// apiUsage is the sample as reported to the operator; cpu is the share of
// a core over the window that ended with cur (negative: not known yet).
func apiUsage(cur usageSample, cpu float64) *api.InstanceUsage {
	u := &api.InstanceUsage{
		RSSBytes: cur.rss, PSSBytes: cur.pss, USSBytes: cur.uss, SharedBytes: cur.shared,
		SampledAt: cur.at.UTC().Truncate(time.Second),
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
