package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// CopyStats describes how a VM's disk was made.
type CopyStats struct {
	Method   string // "reflink" or "sparse"
	Bytes    int64  // data bytes copied (0 for a reflink)
	Duration time.Duration
}

// CopyForVM makes dst a private writable copy of disk. It shares blocks with
// the cache through a reflink (FICLONE) where the filesystem allows it, and
// otherwise copies only the data extents (SEEK_DATA/SEEK_HOLE), so the copy
// stays as sparse as the original. dst appears complete or not at all.
func (s *Store) CopyForVM(ctx context.Context, disk *Disk, dst string) (CopyStats, error) {
	return CopySparse(ctx, disk.Path, dst)
}

// CopySparse is CopyForVM for any file.
func CopySparse(ctx context.Context, srcPath, dst string) (CopyStats, error) {
	start := time.Now()
	src, err := os.Open(srcPath)
	if err != nil {
		return CopyStats{}, fmt.Errorf("copy disk: %w", err)
	}
	defer src.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return CopyStats{}, fmt.Errorf("copy disk: %w", err)
	}
	st := CopyStats{Method: "reflink"}
	if err := unix.IoctlFileClone(int(out.Fd()), int(src.Fd())); err != nil {
		st.Method = "sparse"
		st.Bytes, err = copyExtents(ctx, src, out)
		if err != nil {
			out.Close()
			os.Remove(tmp)
			return st, fmt.Errorf("copy disk %s: %w", srcPath, err)
		}
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return st, fmt.Errorf("copy disk: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return st, fmt.Errorf("copy disk: %w", err)
	}
	st.Duration = time.Since(start)
	return st, nil
}

// copyExtents copies the data regions of src into out and sizes out like
// src, leaving holes as holes.
func copyExtents(ctx context.Context, src, out *os.File) (int64, error) {
	info, err := src.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	if err := out.Truncate(size); err != nil {
		return 0, err
	}
	sfd := int(src.Fd())
	var copied, pos int64
	for pos < size {
		if err := ctx.Err(); err != nil {
			return copied, err
		}
		start, err := unix.Seek(sfd, pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			return copied, fmt.Errorf("seek data: %w", err)
		}
		end, err := unix.Seek(sfd, start, unix.SEEK_HOLE)
		if err != nil {
			return copied, fmt.Errorf("seek hole: %w", err)
		}
		if err := copyRange(src, out, start, end-start); err != nil {
			return copied, err
		}
		copied += end - start
		pos = end
	}
	return copied, nil
}

// copyRange copies n bytes at off, in the kernel when it can.
func copyRange(src, out *os.File, off, n int64) error {
	roff, woff := off, off
	for n > 0 {
		w, err := unix.CopyFileRange(int(src.Fd()), &roff, int(out.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil {
			// Cross-filesystem or unsupported: copy through user space.
			_, err := io.Copy(io.NewOffsetWriter(out, woff), io.NewSectionReader(src, roff, n))
			return err
		}
		if w == 0 {
			return io.ErrUnexpectedEOF
		}
		n -= int64(w)
	}
	return nil
}
