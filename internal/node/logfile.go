package node

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
)

// Drop reasons, as shipped in the notice line and as the metric's label.
const (
	reasonRate     = "rate limit"
	reasonFileFull = "log file over its size cap"
	reasonLong     = "line too long"
	reasonBacklog  = "operator unreachable"
)

// rotate keeps the file under its cap with copytruncate semantics: QEMU
// holds the file open for appending and cannot be told to reopen it, so
// the file is copied to <path>.1 and truncated in place; QEMU's next
// append lands at offset 0. What the guest wrote after the tail's last
// read and before the truncation is lost (counted, in bytes): the reads
// just before keep that window to the time of one truncate call.
func (t *logTail) rotate(f *os.File) {
	if err := keepCopy(f, t.path+".1", t.offset, t.limits.FileBytes); err != nil {
		slog.Warn("rotate log", "instance", t.instance, "err", err)
	}
	t.consume(f, readChunk) // what came in while copying
	if fi, err := f.Stat(); err == nil && fi.Size() > t.offset {
		t.drop(reasonFileFull, int(fi.Size()-t.offset))
	}
	if err := f.Truncate(0); err != nil {
		slog.Warn("rotate log", "instance", t.instance, "err", err)
		return
	}
	t.offset = 0
}

// capConsole rotates the VM's console file the same way; nothing reads it
// but people and Wait (for the power-down line), so nothing is counted.
func (t *logTail) capConsole(log *slog.Logger) {
	if t.console == "" {
		return
	}
	f, err := os.OpenFile(t.console, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= t.limits.FileBytes {
		return
	}
	if err := keepCopy(f, t.console+".1", fi.Size(), t.limits.FileBytes); err != nil {
		log.Warn("rotate console", "err", err)
	}
	if err := f.Truncate(0); err != nil {
		log.Warn("rotate console", "err", err)
	}
}

// keepCopy writes at most keep bytes of f ending at end, starting at a line
// boundary, to dst (replaced atomically).
func keepCopy(f *os.File, dst string, end, keep int64) error {
	start := max(0, end-keep)
	if start > 0 {
		head := make([]byte, min(maxRawLine, end-start))
		n, _ := f.ReadAt(head, start)
		if i := bytes.IndexByte(head[:n], '\n'); i >= 0 {
			start += int64(i + 1)
		}
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, start, end-start))
	err = errors.Join(err, out.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
