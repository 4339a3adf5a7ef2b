package image

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFlattenLayerOrder(t *testing.T) {
	lower := layerTar(t,
		dir("etc"), file("etc/a", "lower a"), file("etc/b", "lower b"),
		dir("d"), file("d/x", "x"),
		file("f", "a file"),
	)
	upper := layerTar(t,
		file("etc/a", "upper a"),   // overwrite a file
		file("d", "now a file"),    // a directory replaced by a file
		dir("f"), file("f/y", "y"), // a file replaced by a directory
	)
	root, _, err := flattenLayers(t, Limits{}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"etc/a": "upper a", "etc/b": "lower b", "d": "now a file", "f/y": "y"} {
		if got := readFile(t, filepath.Join(root, path)); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}

func TestFlattenWhiteouts(t *testing.T) {
	lower := layerTar(t,
		dir("a"), file("a/keep", "k"), file("a/gone", "g"),
		dir("b"), file("b/old1", "1"), dir("b/sub"), file("b/sub/old2", "2"),
		dir("c"), file("c/deep", "d"),
	)
	upper := layerTar(t,
		file("a/.wh.gone", ""),
		dir("b"), file("b/.wh..wh..opq", ""), file("b/new", "n"),
		file(".wh.c", ""),
		file("a/.wh.never-existed", ""),
	)
	root, _, err := flattenLayers(t, Limits{}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(root, "a/gone"))
	mustNotExist(t, filepath.Join(root, "a/.wh.gone"))
	mustNotExist(t, filepath.Join(root, "b/old1"))
	mustNotExist(t, filepath.Join(root, "b/sub"))
	mustNotExist(t, filepath.Join(root, "c"))
	readFile(t, filepath.Join(root, "a/keep"))
	if got := readFile(t, filepath.Join(root, "b/new")); got != "n" {
		t.Errorf("b/new = %q", got)
	}
}

// An opaque marker that comes after the layer's own entries in the
// directory must not remove them.
func TestFlattenOpaqueAfterOwnEntries(t *testing.T) {
	lower := layerTar(t, dir("b"), file("b/old", "o"))
	upper := layerTar(t, dir("b"), file("b/new", "n"), file("b/.wh..wh..opq", ""))
	root, _, err := flattenLayers(t, Limits{}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(root, "b/old"))
	readFile(t, filepath.Join(root, "b/new"))
}

func TestFlattenHardLinks(t *testing.T) {
	l := layerTar(t,
		file("bin/tool", "binary"),
		hardlink("bin/alias", "bin/tool"),
		hardlink("/bin/abs-alias", "/bin/tool"),
		symlink("lnk", "/bin/tool"),
		hardlink("lnk2", "lnk"), // a hard link to a symlink links the symlink
	)
	root, _, err := flattenLayers(t, Limits{}, l)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(root, "bin/tool"))
	for _, p := range []string{"bin/alias", "bin/abs-alias"} {
		b, err := os.Stat(filepath.Join(root, p))
		if err != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not a hard link of bin/tool (err %v)", p, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "lnk2")); err != nil || target != "/bin/tool" {
		t.Errorf("lnk2 = %q, %v; want a symlink to /bin/tool", target, err)
	}
}

func TestFlattenPermissionsAndOwnership(t *testing.T) {
	mtime := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	l := layerTar(t,
		entry{name: "app", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1001, mtime: mtime},
		entry{name: "app/run", typ: tar.TypeReg, mode: 0o4755, uid: 1000, gid: 1001, body: "#!", mtime: mtime},
		entry{name: "app/secret", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 1001, body: "s"},
		entry{name: "app/ln", typ: tar.TypeSymlink, link: "run", uid: 1000, gid: 1001, mtime: mtime},
		entry{name: "app/pipe", typ: tar.TypeFifo, mode: 0o640, uid: 7, gid: 8},
	)
	root, _, err := flattenLayers(t, Limits{}, l)
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, mode os.FileMode, uid, gid uint32, mt time.Time) {
		t.Helper()
		info, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if info.Mode() != mode {
			t.Errorf("%s mode %v, want %v", path, info.Mode(), mode)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owner %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
		}
		if !mt.IsZero() && !info.ModTime().Equal(mt) {
			t.Errorf("%s mtime %v, want %v", path, info.ModTime(), mt)
		}
	}
	check("app", os.ModeDir|0o750, 1000, 1001, mtime)
	check("app/run", os.ModeSetuid|0o755, 1000, 1001, mtime)
	check("app/secret", 0o600, 1000, 1001, time.Time{})
	check("app/ln", os.ModeSymlink|0o777, 1000, 1001, mtime)
	check("app/pipe", os.ModeNamedPipe|0o640, 7, 8, time.Time{})
}

func TestFlattenSkipsDevices(t *testing.T) {
	l := layerTar(t,
		entry{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660},
		entry{name: "dev/mem", typ: tar.TypeChar, mode: 0o660},
		file("ok", "fine"),
	)
	root, stats, err := flattenLayers(t, Limits{}, l)
	if err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(root, "dev/sda"))
	mustNotExist(t, filepath.Join(root, "dev/mem"))
	if stats.Skipped != 2 {
		t.Errorf("skipped %d entries, want 2", stats.Skipped)
	}
}

// Symlinks planted by an earlier entry or layer are resolved as if the
// root were "/": writes through them land inside the root.
func TestFlattenSymlinkEscapesStayInside(t *testing.T) {
	lower := layerTar(t, symlink("up", "../../.."), symlink("abs", "/"), symlink("etc", "/tmp/elsewhere"))
	upper := layerTar(t, file("up/through-relative", "r"), file("abs/through-absolute", "a"))
	root, _, err := flattenLayers(t, Limits{}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	readFile(t, filepath.Join(root, "through-relative"))
	readFile(t, filepath.Join(root, "through-absolute"))
	mustNotExist(t, filepath.Join(filepath.Dir(root), "through-relative"))

	// A file written through a symlink to a directory that does not exist
	// (inside the root) fails rather than following it out.
	_, _, err = flattenLayers(t, Limits{}, lower, layerTar(t, file("etc/passwd", "x")))
	if err == nil {
		t.Fatal("writing through a dangling symlink succeeded")
	}
	mustNotExist(t, "/tmp/elsewhere/passwd")
}

func TestFlattenRejectsDotDot(t *testing.T) {
	for _, e := range []entry{
		file("../escape", "x"),
		file("a/../../escape", "x"),
		hardlink("h", "../../etc/passwd"),
		file(".wh...", ""),
	} {
		root, _, err := flattenLayers(t, Limits{}, layerTar(t, e))
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%s -> %s: err = %v, want ErrUnsafePath", e.name, e.link, err)
		}
		mustNotExist(t, filepath.Join(filepath.Dir(root), "escape"))
	}
}

func TestFlattenLimits(t *testing.T) {
	big := strings.Repeat("x", 2048)
	_, _, err := flattenLayers(t, Limits{MaxBytes: 3000}, layerTar(t, file("a", big)), layerTar(t, file("b", big)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 3000 bytes") {
		t.Errorf("size limit: err = %v", err)
	}
	_, _, err = flattenLayers(t, Limits{MaxEntries: 3}, layerTar(t, file("a", ""), file("b", ""), file("c", ""), file("d", "")))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("entry limit: err = %v", err)
	}
}

func TestFlattenImage(t *testing.T) {
	img := imageOf(t, ImageConfig{}, layerTar(t, file("a", "1")), layerTar(t, file(".wh.a", ""), file("b", "2")))
	root := t.TempDir()
	stats, err := Flatten(context.Background(), img, root, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Layers != 2 || stats.Entries != 3 {
		t.Errorf("stats = %+v", stats)
	}
	mustNotExist(t, filepath.Join(root, "a"))
	readFile(t, filepath.Join(root, "b"))
}
