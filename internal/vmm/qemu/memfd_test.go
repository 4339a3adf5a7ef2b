package qemu

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeTemplate writes a template directory whose memory file is 4 MiB of
// zeros with 1 MiB of random bytes in it, and returns its record.
func fakeTemplate(t *testing.T, dir string) templateMetaFile {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	mem := make([]byte, 4<<20)
	rand.Read(mem[1<<20 : 2<<20])
	path := filepath.Join(dir, templateMemory)
	if err := os.WriteFile(path, mem, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	meta := templateMetaFile{Key: "k", Bytes: 1, Memory: int64(len(mem)), MemorySHA256: sum}
	b, _ := json.Marshal(meta)
	os.WriteFile(filepath.Join(dir, templateMeta), b, 0o600)
	return meta
}

// openMemfds counts this process's template memfds.
func openMemfds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if link, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(link, "/memfd:"+memfdName) {
			n++
		}
	}
	return n
}

// TestSealedMemoryCannotBeWritten: the template memfd holds the file's
// contents (its zero pages unallocated), may be reopened read-write and
// mapped privately, as QEMU does, but write(2), a shared writable mapping,
// fallocate and truncation all fail, for anyone.
func TestSealedMemoryCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	meta := fakeTemplate(t, dir)
	mem, err := loadSealed(filepath.Join(dir, templateMemory), meta.Memory, meta.MemorySHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var st unix.Stat_t
	unix.Fstat(int(mem.Fd()), &st)
	if st.Size != meta.Memory || st.Blocks*512 > 2<<20 {
		t.Errorf("memfd: size %d, %d bytes allocated; want %d and about 1 MiB", st.Size, st.Blocks*512, meta.Memory)
	}
	rw, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(mem.Fd())), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("reopen read-write (QEMU does): %v", err)
	}
	defer rw.Close()
	priv, err := unix.Mmap(int(rw.Fd()), 0, int(meta.Memory), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("private writable mapping (QEMU's): %v", err)
	}
	defer unix.Munmap(priv)
	orig := priv[1<<20]
	priv[1<<20]++ // a private copy
	if _, err := rw.WriteAt([]byte("poison"), 1<<20); !errors.Is(err, unix.EPERM) {
		t.Errorf("write: %v, want EPERM", err)
	}
	if _, err := unix.Mmap(int(rw.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); !errors.Is(err, unix.EPERM) {
		t.Errorf("shared writable mapping: %v, want EPERM", err)
	}
	if err := unix.Fallocate(int(rw.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096); !errors.Is(err, unix.EPERM) {
		t.Errorf("punch hole: %v, want EPERM", err)
	}
	if err := rw.Truncate(0); !errors.Is(err, unix.EPERM) {
		t.Errorf("truncate: %v, want EPERM", err)
	}
	if _, err := unix.FcntlInt(rw.Fd(), unix.F_ADD_SEALS, 0); err == nil {
		// F_ADD_SEALS of nothing succeeds only while F_SEAL_SEAL is unset.
		t.Error("more seals could be added")
	}
	b := make([]byte, 1)
	rw.ReadAt(b, 1<<20)
	if b[0] != orig {
		t.Error("a private mapping's write reached the memfd")
	}
}

// TestSealedMemoryRefusesCorruptFiles: a memory file of the wrong size or
// contents is not loaded (the restore fails and the node boots instead).
func TestSealedMemoryRefusesCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	meta := fakeTemplate(t, dir)
	path := filepath.Join(dir, templateMemory)
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("x"), 3<<20)
	f.Close()
	if _, err := loadSealed(path, meta.Memory, meta.MemorySHA256); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt memory loaded: %v", err)
	}
	os.Truncate(path, 1<<20)
	if _, err := loadSealed(path, meta.Memory, meta.MemorySHA256); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated memory loaded: %v", err)
	}
}

// TestSealedMemoriesFollowTemplates: a template's memfd is loaded once,
// replaced when the template is rebuilt and closed when it is deleted or
// released, so that the node does not keep old templates' memory.
func TestSealedMemoriesFollowTemplates(t *testing.T) {
	var c sealedMemories
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	metaA, metaB := fakeTemplate(t, a), fakeTemplate(t, b)
	base := openMemfds(t)
	fa, err := c.get(a, metaA)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.get(a, metaA); again != fa || openMemfds(t) != base+1 {
		t.Error("template a loaded twice")
	}
	// Rebuilt in place: a new file, a new memfd, the old one closed.
	os.RemoveAll(a)
	metaA = fakeTemplate(t, a)
	if fa2, err := c.get(a, metaA); err != nil || fa2 == fa {
		t.Fatalf("rebuilt template: %v (same memfd: %v)", err, fa2 == fa)
	}
	if n := openMemfds(t); n != base+1 {
		t.Errorf("after a rebuild %d template memfds are open, want 1", n-base)
	}
	// Deleted: closed at the next use of any template.
	if _, err := c.get(b, metaB); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(a)
	if _, err := c.get(b, metaB); err != nil {
		t.Fatal(err)
	}
	if n := openMemfds(t); n != base+1 {
		t.Errorf("after a deletion %d template memfds are open, want 1", n-base)
	}
	// Released by the node when it discards a template.
	c.release(b)
	if n := openMemfds(t); n != base {
		t.Errorf("after the release %d template memfds are open, want 0", n-base)
	}
}

// TestCopySparse: a template's memory moved across file systems keeps its
// contents and its holes.
func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	meta := fakeTemplate(t, dir)
	to := filepath.Join(t.TempDir(), "copy")
	if err := copySparse(filepath.Join(dir, templateMemory), to); err != nil {
		t.Fatal(err)
	}
	sum, _ := fileSHA256(to)
	var st unix.Stat_t
	unix.Stat(to, &st)
	if sum != meta.MemorySHA256 || st.Size != meta.Memory || st.Blocks*512 > 2<<20 {
		t.Errorf("copy: sum %s size %d allocated %d; want %s, %d, about 1 MiB", sum, st.Size, st.Blocks*512, meta.MemorySHA256, meta.Memory)
	}
}
