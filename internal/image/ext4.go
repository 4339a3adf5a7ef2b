package image

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// DefaultFreeSpace is the room left on a root disk for the app to write.
const DefaultFreeSpace = 256 << 20

// BuildExt4 writes an ext4 image of dir to out (which must not exist) with
// mkfs.ext4 -d: no mounting and no loop devices. The image is sized to the
// content plus free bytes of headroom and stays sparse. It returns the
// image's apparent size.
//
// mke2fs discards (hole-punches) a regular file before writing, and then
// knows the inode tables read as zeros, so it marks them initialised and the
// guest kernel has no lazy inode-table zeroing to do after it mounts the disk.
func BuildExt4(ctx context.Context, dir, out string, free int64) (int64, error) {
	if free < 0 {
		free = DefaultFreeSpace
	}
	data, inodes, err := measureTree(dir)
	if err != nil {
		return 0, fmt.Errorf("measure %s: %w", dir, err)
	}
	// Room for the app's own files too; mke2fs's default of one inode per
	// 16 KiB would suffice only for images of large files.
	inodeCount := inodes*2 + 16384 + free/(64<<10)
	size := data + data/16 + inodeCount*256 + 48<<20 + free
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	// Creating the file first (sparse, at its final size) is what makes
	// mke2fs discard it and trust that the inode tables read as zeros.
	f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create disk image: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("size disk image: %w", err)
	}
	args := []string{
		"-q", "-F",
		"-t", "ext4",
		"-b", "4096",
		"-m", "0", // no blocks reserved for root: the app is the only user
		"-N", strconv.FormatInt(inodeCount, 10),
		"-L", "zeitwork-root",
		"-O", "^resize_inode", // never resized online: no reserved GDT blocks
		"-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
		"-d", dir,
		out,
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", args...)
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("mkfs.ext4 %s: %w: %s", out, err, bytes.TrimSpace(outBuf.Bytes()))
	}
	return size, nil
}

// measureTree returns the bytes of data (in whole blocks) and the number of
// inodes under dir.
func measureTree(dir string) (data, inodes int64, err error) {
	const block = 4096
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		inodes++
		if d.Type().IsRegular() || d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			data += (info.Size() + block - 1) / block * block
			if d.IsDir() && info.Size() == 0 {
				data += block
			}
		} else if d.Type()&fs.ModeSymlink != 0 {
			data += block // long targets take a block
		}
		return nil
	})
	return data, inodes, err
}
