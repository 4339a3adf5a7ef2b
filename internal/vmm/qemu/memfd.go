package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Shared template memory. A template's guest memory is a file that the
// template VM wrote through a shared mapping; restored VMs map it
// privately (copy-on-write), so that the pages no instance has written
// exist once on the node. QEMU 7.2 opens a memory-backend-file read-write
// even for a private mapping, so the file QEMU opens must not be one that
// QEMU can write: the driver (root, outside the jail) loads the file into
// a memfd, seals it against every write, growth and shrinkage (and
// against further sealing), and passes it to each restoring QEMU, which
// opens it as /proc/self/fd/N. A sealed memfd may be opened read-write
// and mapped privately, but write(2), a shared writable mapping and
// fallocate fail with EPERM for everyone, a compromised QEMU included: a
// guest can only ever change its own private copies of the pages.

// memfdName is the name of template memfds, as /proc/<pid>/maps shows it
// ("/memfd:zeitwork-template (deleted)").
const memfdName = "zeitwork-template"

// templateSeals forbid every change to a template memfd, and more seals.
const templateSeals = unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL

// sealedMemories caches one sealed memfd per template directory, so that
// a template is read once per agent, not once per instance.
type sealedMemories struct {
	mu sync.Mutex
	m  map[string]*sealedMemory
}

// sealedMemory is a template's sealed memfd and the checksum of what it
// holds: a template rebuilt in place has other contents.
type sealedMemory struct {
	f   *os.File
	sum string
}

// get returns dir's sealed memory, loading it when it is not cached or
// its template changed. The caller must not close the result.
func (c *sealedMemories) get(dir string, meta templateMetaFile) (*os.File, error) {
	path := filepath.Join(dir, templateMemory)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked()
	if s, ok := c.m[dir]; ok && s.sum == meta.MemorySHA256 {
		return s.f, nil
	}
	f, err := loadSealed(path, meta.Memory, meta.MemorySHA256)
	if err != nil {
		return nil, err
	}
	if old, ok := c.m[dir]; ok {
		old.f.Close()
	}
	if c.m == nil {
		c.m = map[string]*sealedMemory{}
	}
	c.m[dir] = &sealedMemory{f: f, sum: meta.MemorySHA256}
	return f, nil
}

// pruneLocked closes the memfds of templates deleted since they were
// loaded. VMs restored from them keep their mappings; the memory is freed
// when the last of them exits.
func (c *sealedMemories) pruneLocked() {
	for dir, s := range c.m {
		if _, err := os.Stat(filepath.Join(dir, templateMemory)); err != nil {
			s.f.Close()
			delete(c.m, dir)
		}
	}
}

// release closes dir's memfd, if loaded.
func (c *sealedMemories) release(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[dir]; ok {
		s.f.Close()
		delete(c.m, dir)
	}
}

// canSealMemfd reports whether this kernel makes memfds that can be
// sealed against writes: without, templates keep their memory in the
// migration stream.
func canSealMemfd() bool {
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, templateSeals)
	return err == nil
}

// ReleaseTemplate drops what the driver holds of the template in dir (its
// sealed memory); call it when deleting or replacing a template.
func (d *Driver) ReleaseTemplate(dir string) { d.memories.release(dir) }

// loadSealed copies the file at path, which must be size bytes with the
// SHA-256 sum, into a new memfd and seals it. Pages of zeros are not
// written, so that the memfd holds only the pages the template touched.
func loadSealed(path string, size int64, sum string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("template memory: %w", err)
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || st.Size() != size || size <= 0 {
		return nil, fmt.Errorf("template memory: %s is truncated or changed", path)
	}
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("template memory: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:"+memfdName)
	ok := false
	defer func() {
		if !ok {
			mem.Close()
		}
	}()
	if err := mem.Truncate(size); err != nil {
		return nil, fmt.Errorf("template memory: %w", err)
	}
	got, err := copyNonZero(mem, src)
	if err != nil {
		return nil, fmt.Errorf("template memory: %w", err)
	}
	if got != sum {
		return nil, fmt.Errorf("template memory: %s is corrupt (sha256 %s, want %s)", path, got, sum)
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, templateSeals); err != nil {
		return nil, fmt.Errorf("template memory: seal: %w", err)
	}
	ok = true
	return mem, nil
}

// copyNonZero writes the pages of src that are not all zeros to the same
// offsets of dst and returns the SHA-256 of all of src.
func copyNonZero(dst io.WriterAt, src io.Reader) (string, error) {
	const page = 4096
	h := sha256.New()
	buf := make([]byte, 1<<20)
	zero := make([]byte, page)
	var off int64
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			h.Write(buf[:n])
			for i := 0; i < n; i += page {
				p := buf[i:min(i+page, n)]
				if bytes.Equal(p, zero[:len(p)]) {
					continue
				}
				if _, err := dst.WriteAt(p, off+int64(i)); err != nil {
					return "", err
				}
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
