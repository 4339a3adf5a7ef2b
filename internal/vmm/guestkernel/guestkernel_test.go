package guestkernel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"

	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// cpioEntry is what readCPIO parses back.
type cpioEntry struct {
	name         string
	mode         uint32
	rmajor, rmin uint32
	data         []byte
}

// readCPIO is an independent newc parser for checking the writer.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, namesize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+namesize-1])
		off = align(off + 110 + namesize)
		data := b[off : off+size]
		off = align(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, rmaj, rmin, data})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	c.Dir("/dev", 0o755)
	c.CharDev("dev/console", 0o600, 5, 1)
	c.File("init", 0o755, []byte("12345")) // odd size: needs padding
	c.File("a/longer-name.txt", 0o644, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{"dev", modeDir | 0o755, 0, 0, nil},
		{"dev/console", modeChar | 0o600, 5, 1, nil},
		{"init", modeFile | 0o755, 0, 0, []byte("12345")},
		{"a/longer-name.txt", modeFile | 0o644, 0, 0, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.name != w.name || g.mode != w.mode || g.rmajor != w.rmajor || g.rmin != w.rmin || !bytes.Equal(g.data, w.data) {
			t.Errorf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
}

// legacyLZ4 compresses like the kernel build: lz4 -l plus the size trailer.
func legacyLZ4(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(lz4.LegacyOption(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.AppendUint32(buf.Bytes(), uint32(len(data)))
}

func TestDecompressLZ4Legacy(t *testing.T) {
	// More than one 8 MiB block, compressible but not trivial.
	data := make([]byte, 9<<20+123)
	r := rand.New(rand.NewSource(1))
	for i := range data {
		data[i] = byte(r.Intn(16))
	}
	got, err := decompressLZ4Legacy(legacyLZ4(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("round trip differs: %d bytes, want %d", len(got), len(data))
	}
	if _, err := decompressLZ4Legacy([]byte("not lz4 at all")); err == nil {
		t.Error("garbage accepted")
	}
	trunc := legacyLZ4(t, data)
	if _, err := decompressLZ4Legacy(trunc[:len(trunc)/2]); err == nil {
		t.Error("truncated stream accepted")
	}
}

func FuzzDecompressLZ4Legacy(f *testing.F) {
	f.Add(legacyLZ4(f, []byte("hello hello hello hello")))
	f.Fuzz(func(t *testing.T, b []byte) {
		decompressLZ4Legacy(b)
	})
}

func note(owner string, typ uint32, desc []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(owner)+1))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	name := append([]byte(owner), 0)
	for len(name)%4 != 0 {
		name = append(name, 0)
	}
	b = append(b, name...)
	for len(desc)%4 != 0 {
		desc = append(desc, 0)
	}
	return append(b, desc...)
}

func TestHasNote(t *testing.T) {
	seg := append(note("GNU", 3, []byte{1, 2, 3, 4, 5}), note("Xen", 18, []byte{0, 0, 0, 1})...)
	if !hasNote(seg, binary.LittleEndian, "Xen", 18) {
		t.Error("PVH note not found")
	}
	if hasNote(seg[:20], binary.LittleEndian, "Xen", 18) {
		t.Error("found in truncated segment")
	}
	if hasNote(note("Linux", 18, nil), binary.LittleEndian, "Xen", 18) {
		t.Error("wrong owner matched")
	}
}

func TestParseDepends(t *testing.T) {
	info := []byte("license=GPL\x00depends=virtio_ring,virtio,net-failover\x00name=virtio_net\x00")
	if got := parseDepends(info); !slices.Equal(got, []string{"virtio_ring", "virtio", "net_failover"}) {
		t.Errorf("got %q", got)
	}
	if got := parseDepends([]byte("depends=\x00")); len(got) != 0 {
		t.Errorf("empty depends: %q", got)
	}
}

func TestLoadOrder(t *testing.T) {
	graph := map[string][]string{
		"virtio_net":   {"virtio_ring", "virtio", "net_failover"},
		"net_failover": {"failover"},
		"virtio":       {"virtio_ring"},
		"virtio_blk":   {"virtio", "virtio_ring"},
	}
	deps := func(n string) ([]string, error) { return graph[n], nil }
	got, err := loadOrder([]string{"virtio_blk", "virtio_net"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"virtio_ring", "virtio", "virtio_blk", "failover", "net_failover", "virtio_net"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	graph["virtio_ring"] = []string{"virtio_net"}
	if _, err := loadOrder([]string{"virtio_net"}, deps); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	boom := errors.New("boom")
	if _, err := loadOrder([]string{"x"}, func(string) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("deps error lost: %v", err)
	}
}

func TestParseAptDepends(t *testing.T) {
	out := []byte("linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n  Depends: other\n")
	if got := parseDepends1(out, "linux-image-"); got != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("got %q", got)
	}
	if got := parseDepends1([]byte("x\n"), "linux-image-"); got != "" {
		t.Errorf("got %q", got)
	}
}

// TestPrepareRealKernel runs the real path: Debian's kernel from the
// machine-wide cache (fetched with apt the first time), the vmlinux with its
// PVH note, and an initramfs with the init and the modules in an order where
// every module follows its dependencies.
func TestPrepareRealKernel(t *testing.T) {
	ctx := context.Background()
	init := filepath.Join(t.TempDir(), "fake-init")
	if err := os.WriteFile(init, []byte("#!init "+t.Name()), 0o755); err != nil {
		t.Fatal(err)
	}
	k, err := Prepare(ctx, DefaultCacheDir, init)
	if err != nil {
		t.Fatal(err)
	}
	vmlinux, err := os.ReadFile(k.Vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPVH(vmlinux); err != nil {
		t.Fatalf("%s: %v", k.Vmlinux, err)
	}
	initrd, err := os.ReadFile(k.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string][]byte{}
	for _, e := range readCPIO(t, initrd) {
		entries[e.name] = e.data
	}
	if string(entries["init"]) != "#!init "+t.Name() {
		t.Errorf("initrd /init is not the given binary")
	}
	if _, ok := entries["dev/console"]; !ok {
		t.Error("no /dev/console")
	}
	order := strings.Fields(string(entries["modules/order"]))
	pos := map[string]int{}
	for i, m := range order {
		pos[strings.TrimSuffix(m, ".ko")] = i
		if _, ok := entries["modules/"+m]; !ok {
			t.Errorf("order lists %s, which is not in the initrd", m)
		}
	}
	for _, m := range NeededModules {
		if _, ok := pos[m]; !ok {
			t.Errorf("module %s missing", m)
		}
	}
	modDir := filepath.Join(treeDir(DefaultCacheDir, k.Version), "lib", "modules", k.Version)
	idx, err := indexModules(modDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, i := range pos {
		deps, err := moduleDepends(idx[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			if j, ok := pos[d]; !ok || j > i {
				t.Errorf("%s loads before its dependency %s", name, d)
			}
		}
	}
	// Cached: same inputs give the same files; a new init gives a new initrd.
	again, err := Prepare(ctx, DefaultCacheDir, init)
	if err != nil || *again != *k {
		t.Errorf("second Prepare: %+v, %v; want %+v", again, err, k)
	}
	os.WriteFile(init, []byte("#!other init"), 0o755)
	other, err := Prepare(ctx, DefaultCacheDir, init)
	if err != nil || other.Initrd == k.Initrd || other.Vmlinux != k.Vmlinux {
		t.Errorf("changed init: %+v, %v", other, err)
	}
	os.Remove(k.Initrd)
	os.Remove(other.Initrd)
}

func TestExtractVmlinuxRejectsNonBzImage(t *testing.T) {
	if _, err := extractVmlinux(make([]byte, 4096)); err == nil {
		t.Error("zeros accepted")
	}
}
