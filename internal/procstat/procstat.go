// Package procstat reads what a process costs its host from /proc: its
// resident memory split into unique, proportional and shared parts
// (smaps_rollup), and its CPU time (stat). The node agent reports it for
// every VM's VMM process; the VM benchmark reads it too.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sample is what one read of a process's /proc files gives.
type Sample struct {
	At time.Time
	// Memory in bytes, from smaps_rollup: RSS counts every resident page;
	// PSS divides each shared page among the processes mapping it; USS
	// (Private_*) is what only this process holds, the memory freed when it
	// ends; Shared (Shared_*) is what it maps together with others (QEMU's
	// code and libraries, and later a template's guest pages).
	RSS, PSS, USS, Shared uint64
	// CPU is the process's user plus system time, all threads.
	CPU time.Duration
}

// Read samples process pid (reading another user's process needs root or
// CAP_SYS_PTRACE). For QEMU, guest RAM is a memfd that only its process
// maps, so every guest page it touched counts as unique.
func Read(pid int) (Sample, error) {
	s := Sample{At: time.Now()}
	dir := "/proc/" + strconv.Itoa(pid)
	f, err := os.Open(dir + "/smaps_rollup")
	if err != nil {
		return s, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	err = parseSmapsRollup(f, &s)
	f.Close()
	if err != nil {
		return s, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	return s, nil
}

// parseSmapsRollup fills the memory fields from /proc/PID/smaps_rollup,
// whose values are in kB.
func parseSmapsRollup(r io.Reader, s *Sample) error {
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
			s.RSS, seen = b, true
		case "Pss":
			s.PSS = b
		case "Private_Clean", "Private_Dirty":
			s.USS += b
		case "Shared_Clean", "Shared_Dirty":
			s.Shared += b
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

// CPUPercent is the share of one core the process used between two
// samples, in percent.
func CPUPercent(prev, cur Sample) float64 {
	wall := cur.At.Sub(prev.At)
	if wall <= 0 || cur.CPU < prev.CPU {
		return 0
	}
	return 100 * float64(cur.CPU-prev.CPU) / float64(wall)
}
