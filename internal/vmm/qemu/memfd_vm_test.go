package qemu

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// smapsRollup returns the kB figures of /proc/<pid>/smaps_rollup.
func smapsRollup(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 2 && fields[1] == "kB" {
			out[k], _ = strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return out
}

// checkSharedMemory asserts that QEMU pid's guest memory (memMiB) is a
// private mapping of the template's memfd and that its unique memory
// (USS) is under half the guest's size: a VM that loaded the memory into
// its own holds at least the guest's touched pages (~90 MiB) plus QEMU's
// own and its translation cache.
func checkSharedMemory(t *testing.T, pid, memMiB int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/memfd:"+memfdName) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		z, _ := strconv.ParseUint(hi, 16, 64)
		if z-a >= uint64(memMiB)<<20 {
			found = true
			if f[1] != "rw-p" {
				t.Errorf("qemu %d maps the template memory %s, want rw-p (private)", pid, f[1])
			}
		}
	}
	if !found {
		t.Fatalf("qemu %d does not map the template's memfd as guest memory:\n%s", pid, b)
	}
	m := smapsRollup(t, pid)
	if uss := (m["Private_Clean"] + m["Private_Dirty"]) >> 10; uss >= int64(memMiB)/2 {
		t.Errorf("qemu %d: unique memory %d MiB, want under %d MiB", pid, uss, memMiB/2)
	}
}

// checkSealed opens QEMU pid's template memfd read-write, as a compromised
// QEMU could, and asserts that neither write(2) nor a shared writable
// mapping can change it.
func checkSealed(t *testing.T, pid int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		link, _ := os.Readlink(filepath.Join(dir, e.Name()))
		if !strings.HasPrefix(link, "/memfd:"+memfdName) {
			continue
		}
		n++
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("open qemu's memfd read-write: %v", err)
		}
		if _, err := f.WriteAt([]byte("poison"), 0); !errors.Is(err, unix.EPERM) {
			t.Errorf("write to qemu %d's template memfd: %v, want EPERM", pid, err)
		}
		if _, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); !errors.Is(err, unix.EPERM) {
			t.Errorf("shared writable mapping of qemu %d's template memfd: %v, want EPERM", pid, err)
		}
		f.Close()
	}
	if n == 0 {
		t.Fatalf("qemu %d holds no template memfd", pid)
	}
}
