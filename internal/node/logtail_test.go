package node

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// appendLines appends framed lines to path as QEMU does (O_APPEND).
func appendLines(t *testing.T, path string, texts ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, text := range texts {
		l, _ := json.Marshal(channel.LogLine{Stream: "stdout", Time: time.Now(), Text: text})
		b = append(append(b, l...), '\n')
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %06d %s", prefix, from+i, strings.Repeat("x", 80))
	}
	return out
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestLogTailRotatesAtItsCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	const capBytes = 64 << 10
	tail := newLogTail(path, 0, "inst", LogLimits{FileBytes: capBytes, LinesPerSecond: 1e6, Burst: 1e6})
	var got []api.LogLine
	for round := range 10 {
		appendLines(t, path, numbered("line", round*500, 500)...) // ~65 KiB
		tail.read()
		got = append(got, tail.drain()...)
		if s := size(t, path); s > capBytes {
			t.Fatalf("round %d: app.log is %d bytes, over its cap of %d", round, s, capBytes)
		}
		if s := size(t, path+".1"); s > capBytes {
			t.Fatalf("round %d: app.log.1 is %d bytes", round, s)
		}
	}
	// Every line shipped exactly once, in order, across rotations.
	if len(got) != 5000 {
		t.Fatalf("%d lines shipped, want 5000", len(got))
	}
	for i, l := range got {
		if want := numbered("line", i, 1)[0]; l.Text != want {
			t.Fatalf("line %d = %.20q, want %.20q", i, l.Text, want)
		}
	}
}

func TestLogTailKeepsPartialLineAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	tail := newLogTail(path, 0, "inst", LogLimits{FileBytes: 4 << 10, LinesPerSecond: 1e6, Burst: 1e6})
	appendLines(t, path, numbered("a", 0, 60)...)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`{"s":"stdout","l":"hal`))
	tail.read() // rotates with half a line unread
	f.Write([]byte("f\"}\n"))
	f.Close()
	tail.read()
	lines := tail.drain()
	if last := lines[len(lines)-1]; last.Text != "half" || len(lines) != 61 {
		t.Fatalf("%d lines, last %q", len(lines), last.Text)
	}
}

func TestLogTailRateLimitsAndSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	tail := newLogTail(path, 0, "inst", LogLimits{LinesPerSecond: 0.001, Burst: 10})
	var drops int
	tail.onDrop = func(reason string, n int) {
		if reason == reasonRate {
			drops += n
		}
	}
	appendLines(t, path, numbered("flood", 0, 100)...)
	tail.read()
	lines := tail.drain()
	if len(lines) != 11 {
		t.Fatalf("%d lines queued, want 10 and a notice", len(lines))
	}
	if got := lines[10].Text; got != "zeitwork: dropped 90 lines (rate limit)" {
		t.Errorf("notice = %q", got)
	}
	if drops != 90 {
		t.Errorf("counted %d drops, want 90", drops)
	}
	// The last lines are still known for a failure reason.
	if got := tail.lastLines("%s"); !strings.Contains(got, "flood 000099") {
		t.Errorf("lastLines = %.60q", got)
	}
}

func TestLogTailBoundsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	tail := newLogTail(path, 0, "inst", LogLimits{})
	appendLines(t, path, strings.Repeat("y", 100<<10))
	// A hostile guest writing one endless line without a newline.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(strings.Repeat("z", 2*maxRawLine)))
	f.Close()
	tail.read()
	lines := tail.drain()
	if len(lines) < 1 || len(lines[0].Text) > maxLineBytes+len(" [truncated]") {
		t.Fatalf("long line not cut: %d lines", len(lines))
	}
	if len(tail.carry) > maxRawLine {
		t.Errorf("partial line grew to %d bytes", len(tail.carry))
	}
}

// The lines lastLines reads to explain a failure are shipped too.
func TestLastLinesAreShipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	tail := newLogTail(path, 0, "inst", LogLimits{})
	appendLines(t, path, "panic: out of cheese", "goroutine 1 [running]")
	if got := tail.lastLines("last output: %s"); !strings.Contains(got, "out of cheese") {
		t.Fatalf("lastLines = %q", got)
	}
	lines := tail.drain()
	if len(lines) != 2 || lines[0].Text != "panic: out of cheese" {
		t.Fatalf("shipped %+v", lines)
	}
}

// An idle VM's log tail polls four times a second and finds nothing: such
// a poll must not allocate a read buffer (it allocated and zeroed 1 MiB,
// which cost the agent more CPU than the idle VM), while lines that do
// arrive are still read, also one longer than the smallest buffer.
func TestIdleLogPollAllocatesNoBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, path, "hello")
	tail := newLogTail(path, 0, "i1", LogLimits{})
	tail.read()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		tail.read()
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("20 polls of an unchanged log allocated %d bytes, want no read buffers", got)
	}
	long := strings.Repeat("y", 100<<10)
	appendLines(t, path, "second", long)
	tail.read()
	if len(tail.pending) != 3 || tail.pending[1].Text != "second" || !strings.HasPrefix(tail.pending[2].Text, "yyyy") {
		t.Errorf("after the idle polls, pending = %d lines, want hello, second and the 100 KiB line (cut)", len(tail.pending))
	}
}

// BenchmarkIdleLogPoll is one poll of an idle VM's log and console files,
// as the agent makes four times a second per instance.
func BenchmarkIdleLogPoll(b *testing.B) {
	dir := b.TempDir()
	path, console := filepath.Join(dir, "app.log"), filepath.Join(dir, "console.log")
	os.WriteFile(path, []byte("hello\n"), 0o600)
	os.WriteFile(console, []byte("boot\n"), 0o600)
	tail := newLogTail(path, 0, "i1", LogLimits{})
	tail.console = console
	log := slog.New(slog.DiscardHandler)
	tail.read()
	b.ResetTimer()
	for range b.N {
		tail.read()
		tail.capConsole(log)
	}
}
