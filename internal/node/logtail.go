package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// logTail follows a VM's log file (one channel.LogLine per line, appended by
// the VMM), ships new lines to the operator and keeps the last few for
// failure messages.
type logTail struct {
	path     string
	instance string

	mu     sync.Mutex
	offset int64
	recent []string
}

const recentLines = 5

func newLogTail(path string, offset int64, instance string) *logTail {
	return &logTail{path: path, offset: offset, instance: instance}
}

// run polls the file until ctx ends. Polling keeps this simple and robust
// to the VMM re-creating the file; 250 ms is quick enough for `logs -f`.
func (t *logTail) run(ctx context.Context, c *client, log *slog.Logger) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// pending holds lines the operator has not accepted yet; they are sent
	// again on the next tick, and the oldest dropped past maxPending.
	var pending []api.LogLine
	for {
		pending = append(pending, t.read()...)
		if over := len(pending) - maxPending; over > 0 {
			log.Warn("operator unreachable; dropping old log lines", "lines", over)
			pending = pending[over:]
		}
		for len(pending) > 0 {
			batch := pending[:min(len(pending), shipBatch)]
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := c.shipLogs(sctx, batch)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("ship logs", "err", err, "lines", len(pending))
				}
				break
			}
			pending = pending[len(batch):]
		}
		select {
		case <-ctx.Done():
			t.read() // keep the final words for the failure reason
			return
		case <-tick.C:
		}
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

// read returns the complete lines added since the last read.
func (t *logTail) read() []api.LogLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < t.offset {
		t.offset = 0 // the file was replaced
	}
	buf, err := io.ReadAll(io.NewSectionReader(f, t.offset, 4<<20))
	if err != nil || len(buf) == 0 {
		return nil
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		return nil
	}
	t.offset += int64(end + 1)
	var out []api.LogLine
	for _, raw := range bytes.Split(buf[:end], []byte("\n")) {
		var l channel.LogLine
		if json.Unmarshal(raw, &l) != nil {
			continue
		}
		if len(l.Text) > maxLineBytes {
			l.Text = l.Text[:maxLineBytes] + " [truncated]"
		}
		out = append(out, api.LogLine{Instance: t.instance, Stream: l.Stream, Time: l.Time, Text: l.Text})
		t.recent = append(t.recent, l.Text)
		if len(t.recent) > recentLines {
			t.recent = t.recent[1:]
		}
	}
	return out
}

// lastLines formats the last output lines with format (one %s), or "".
func (t *logTail) lastLines(format string) string {
	if t == nil {
		return ""
	}
	t.read()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.recent) == 0 {
		return ""
	}
	return fmt.Sprintf(format, strings.Join(t.recent, " | "))
}
