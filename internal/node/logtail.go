package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/tokenbucket"
)

// LogLimits bound what one instance's output may cost: disk on the node
// and rows in the operator's database. The guest is hostile and may write
// as fast as its VM can.
type LogLimits struct {
	// FileBytes caps each log file (app.log, console.log); a file that
	// grows past it is copied to <file>.1 and truncated, so at most twice
	// this stays on disk per file. Default 8 MiB.
	FileBytes int64
	// LinesPerSecond and Burst are the token bucket of lines shipped to the
	// operator; lines over it are dropped, and a line saying so is shipped
	// instead. Defaults 200 and 2000.
	LinesPerSecond float64
	Burst          int
}

func (l LogLimits) withDefaults() LogLimits {
	if l.FileBytes <= 0 {
		l.FileBytes = 8 << 20
	}
	if l.LinesPerSecond <= 0 {
		l.LinesPerSecond = 200
	}
	if l.Burst <= 0 {
		l.Burst = 2000
	}
	return l
}

// logTail follows a VM's log file (one channel.LogLine per line, appended by
// the VMM), queues new lines for the operator within the rate limit, keeps
// the file and the console under their cap, and keeps the last few lines
// for failure messages.
type logTail struct {
	path, console string
	instance      string
	limits        LogLimits
	// onDrop counts dropped lines by reason (metrics); may be nil.
	onDrop func(reason string, n int)

	mu      sync.Mutex
	offset  int64  // bytes of the current file consumed
	carry   []byte // a line not yet complete at offset
	bucket  *tokenbucket.Bucket
	pending []api.LogLine // read, not yet accepted by the operator
	recent  [][]byte      // the last raw lines, shipped or not
	dropped map[string]int
}

const (
	recentLines = 5
	// readChunk bounds one read of the file; a tick reads at most
	// readBudget, and what the guest wrote beyond it before the file
	// reached its cap is skipped at rotation.
	readChunk    = 1 << 20
	readBudget   = 16 << 20
	minReadChunk = 64 << 10
	// maxRawLine bounds a framed line still missing its newline; the guest
	// init splits output lines at 32 KiB, so only a hostile guest gets here.
	maxRawLine = 256 << 10
)

func newLogTail(path string, offset int64, instance string, limits LogLimits) *logTail {
	limits = limits.withDefaults()
	return &logTail{
		path: path, offset: offset, instance: instance, limits: limits,
		bucket: tokenbucket.New(limits.LinesPerSecond, limits.Burst, time.Now()), dropped: map[string]int{},
	}
}

// run polls the file until ctx ends, then reads and ships what is left.
// Polling keeps this simple and robust to the VMM re-creating the file;
// 250 ms is quick enough for `logs -f`.
func (t *logTail) run(ctx context.Context, c *client, log *slog.Logger) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		t.read()
		t.capConsole(log)
		t.ship(ctx, c, log)
		select {
		case <-ctx.Done():
			// The final words (read now, or by lastLines for the failure
			// reason) must still reach the operator.
			t.read()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalShipTimeout)
			t.ship(fctx, c, log)
			cancel()
			return
		case <-tick.C:
		}
	}
}

const finalShipTimeout = 3 * time.Second

// ship sends the pending lines in batches until the operator refuses or
// fails; the rest waits for the next tick.
func (t *logTail) ship(ctx context.Context, c *client, log *slog.Logger) {
	for {
		t.mu.Lock()
		batch := t.pending[:min(len(t.pending), shipBatch)]
		t.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.shipLogs(sctx, batch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("ship logs", "err", err, "lines", len(batch))
			}
			return
		}
		t.mu.Lock()
		t.pending = t.pending[len(batch):]
		t.mu.Unlock()
	}
}

// maxPending bounds the lines kept while the operator is unreachable;
// shipBatch and maxLineBytes keep each request well under the operator's
// 4 MiB body limit for logs.
const (
	maxPending   = 10000
	shipBatch    = 200
	maxLineBytes = 8 << 10
)

func (t *logTail) currentOffset() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offset
}

// read queues the complete lines added since the last read, and rotates the
// file once it is over its cap.
func (t *logTail) read() {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.OpenFile(t.path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return
	}
	if fi.Size() < t.offset {
		t.offset, t.carry = 0, nil // the file was replaced or truncated
	}
	t.consume(f, readBudget)
	if fi, err := f.Stat(); err == nil && fi.Size() > t.limits.FileBytes {
		t.rotate(f)
	}
	t.noteDrops()
}

// consume reads up to budget bytes from offset and queues their lines.
// Its buffer is as large as what there is to read (up to readChunk): an
// idle VM's tail finds nothing four times a second, and a buffer of
// readChunk made each of those polls allocate and zero 1 MiB, which cost
// the agent 0.65 ms per tick, more host CPU than the idle VM itself.
func (t *logTail) consume(f *os.File, budget int64) {
	fi, err := f.Stat()
	if err != nil || fi.Size() <= t.offset {
		return
	}
	buf := make([]byte, min(readChunk, budget, max(fi.Size()-t.offset, minReadChunk)))
	for budget > 0 {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), budget)], t.offset)
		if n > 0 {
			t.offset += int64(n)
			budget -= int64(n)
			t.split(buf[:n])
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// split queues the complete lines of data, keeping an incomplete last one.
func (t *logTail) split(data []byte) {
	now := time.Now()
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.carry = append(t.carry, data...)
			if len(t.carry) > maxRawLine {
				t.carry = nil
				t.drop(reasonLong, 1)
			}
			return
		}
		line := data[:i]
		if len(t.carry) > 0 {
			line = append(t.carry, line...)
			t.carry = nil
		}
		data = data[i+1:]
		t.remember(line)
		if !t.bucket.Allow(now) {
			t.drop(reasonRate, 1)
			continue
		}
		t.queue(line)
	}
}

// remember keeps a copy of one of the last raw lines for failure reasons.
func (t *logTail) remember(raw []byte) {
	if len(t.recent) == recentLines {
		copy(t.recent, t.recent[1:])
		t.recent = t.recent[:recentLines-1]
	}
	t.recent = append(t.recent, bytes.Clone(raw))
}

func decodeLine(raw []byte) (channel.LogLine, bool) {
	var l channel.LogLine
	if json.Unmarshal(raw, &l) != nil {
		return l, false
	}
	if len(l.Text) > maxLineBytes {
		l.Text = strings.ToValidUTF8(l.Text[:maxLineBytes], "") + " [truncated]"
	}
	return l, true
}

func (t *logTail) queue(raw []byte) {
	l, ok := decodeLine(raw)
	if !ok {
		return
	}
	t.push(api.LogLine{Instance: t.instance, Stream: l.Stream, Time: l.Time, Text: l.Text})
}

func (t *logTail) push(l api.LogLine) {
	if len(t.pending) >= maxPending {
		// The operator is unreachable: the oldest lines go first.
		t.pending = t.pending[1:]
		t.drop(reasonBacklog, 1)
	}
	t.pending = append(t.pending, l)
}

func (t *logTail) drop(reason string, n int) {
	t.dropped[reason] += n
	if t.onDrop != nil {
		t.onDrop(reason, n)
	}
}

// noteDrops ships one line per reason saying how many lines were dropped
// since the last note, so that `zeitwork logs` shows the gap.
func (t *logTail) noteDrops() {
	for reason, n := range t.dropped {
		if n == 0 {
			continue
		}
		text := fmt.Sprintf("zeitwork: dropped %d lines (%s)", n, reason)
		if reason == reasonFileFull {
			text = fmt.Sprintf("zeitwork: dropped %d bytes of output (%s)", n, reason)
		}
		t.pending = append(t.pending, api.LogLine{Instance: t.instance, Stream: "stderr", Time: time.Now().UTC(), Text: text})
		delete(t.dropped, reason)
	}
}

// lastLines formats the last output lines with format (one %s), or "".
// The lines it reads are queued for shipping like any others: they are
// often the most useful ones, right before a crash.
func (t *logTail) lastLines(format string) string {
	if t == nil {
		return ""
	}
	t.read()
	t.mu.Lock()
	defer t.mu.Unlock()
	var texts []string
	for _, raw := range t.recent {
		if l, ok := decodeLine(raw); ok {
			texts = append(texts, l.Text)
		}
	}
	if len(texts) == 0 {
		return ""
	}
	return fmt.Sprintf(format, strings.Join(texts, " | "))
}

// drain takes the lines waiting to be shipped (for tests).
func (t *logTail) drain() []api.LogLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.pending
	t.pending = nil
	return out
}
