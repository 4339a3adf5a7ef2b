package platform

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests with a stall watchdog. Every role of a platform
// test runs in this one process, so when it stands still (the machine
// starved, or the Go runtime stopped) heartbeats are missed and the
// operator reschedules instances: a test then fails far from its cause.
// The watchdog says so in the test output, with what tells the two apart.
func TestMain(m *testing.M) {
	stop := watchStalls(os.Stderr, time.Second, 5*time.Second)
	code := m.Run()
	stop()
	os.Exit(code)
}

// watchStalls ticks every period and reports a tick that came more than
// limit late: the process ran nothing of ours in between. It reports the
// load average and CPU pressure (high: the machine was starved; low: the
// process itself stood still) and the Go runtime's last GC pause.
func watchStalls(w io.Writer, period, limit time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				now := time.Now() // not the tick's: a starved goroutine may receive an old one
				if late := now.Sub(last) - period; late > limit {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					fmt.Fprintf(w, "stall watchdog: the test process ran nothing for %s until %s; load %s; cpu pressure %s; GC cycles %d, last pause %s\n",
						late.Round(time.Millisecond), now.UTC().Format("15:04:05.000"), firstLine("/proc/loadavg"),
						firstLine("/proc/pressure/cpu"), ms.NumGC, time.Duration(ms.PauseNs[(ms.NumGC+255)%256]))
				}
				last = now
			}
		}
	}()
	return func() { close(done) }
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}
