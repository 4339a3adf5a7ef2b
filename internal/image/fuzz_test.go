package image

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzFlatten feeds layers described in a small text format to the
// flattener and checks that nothing outside the root changed. Lines are
// "TYPE|NAME|LINK|SIZE" with TYPE one of f (file), d (dir), l (symlink),
// h (hard link), c/b (char/block device), p (fifo); "--" starts the next
// layer. @SENTINEL@ in a name or link is replaced by the absolute path of a
// directory next to the root that must stay untouched. A SIZE larger than
// 4096 declares a huge file whose content never follows.
func FuzzFlatten(f *testing.F) {
	for _, seed := range []string{
		"f|../escape||4",
		"f|/../../escape||4\nf|/abs/file||3",
		"l|up|../..|\n--\nf|up/sentinel/file||5",
		"l|s|@SENTINEL@|\nf|s/file||5",
		"l|s|@SENTINEL@/file|\nf|s||5",
		"d|x||\nl|x/y|../../sentinel|\n--\nf|x/y/file||1\nh|x/y/file2|x/y/file|",
		"h|hl|../sentinel/file|",
		"h|hl|@SENTINEL@/file|",
		"l|s|../sentinel/file|\nh|hl|s|\n--\nf|hl||3",
		"c|dev/null||\nb|dev/sda||\np|fifo||",
		"f|a/.wh...||0\nf|.wh.||0\nf|.wh..wh..opq||0",
		"l|dir|../sentinel|\n--\nf|dir/.wh..wh..opq||0\nf|dir/.wh.file||0",
		"f|big||99999999999",
		"d|a||\nf|a/b||3\n--\nl|a|/|\nf|a/b||2",
		"l|a|.|\nl|a/a/a/b|../../..|\nf|a/b/sentinel/file||1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		parent := t.TempDir()
		sentinel := filepath.Join(parent, "sentinel")
		if err := os.Mkdir(sentinel, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sentinel, "file"), []byte("sentinel"), 0o644); err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := openRoot(root, Limits{MaxBytes: 1 << 20, MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		for _, l := range fuzzLayers(strings.ReplaceAll(spec, "@SENTINEL@", sentinel)) {
			if r.applyLayer(t.Context(), bytes.NewReader(l)) != nil {
				break // refusing a layer is fine; escaping is not
			}
		}
		_ = r.finish()
		checkOnlyRootChanged(t, parent)
	})
}

func checkOnlyRootChanged(t *testing.T, parent string) {
	t.Helper()
	err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(parent, p)
		switch {
		case rel == "." || rel == "root" || strings.HasPrefix(rel, "root/") || rel == "sentinel":
		case rel == "sentinel/file":
			info, err := os.Lstat(p)
			if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != 0o644 {
				t.Errorf("sentinel file changed: %v %v", info.Mode(), err)
			}
			if b, _ := os.ReadFile(p); string(b) != "sentinel" {
				t.Errorf("sentinel content changed to %q", b)
			}
		default:
			t.Errorf("%s was created outside the root", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fuzzLayers(spec string) [][]byte {
	var layers [][]byte
	for _, part := range strings.Split(spec, "\n--\n") {
		layers = append(layers, fuzzLayer(part))
	}
	return layers
}

func fuzzLayer(part string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	types := map[string]byte{"f": tar.TypeReg, "d": tar.TypeDir, "l": tar.TypeSymlink, "h": tar.TypeLink,
		"c": tar.TypeChar, "b": tar.TypeBlock, "p": tar.TypeFifo}
	for _, line := range strings.Split(part, "\n") {
		fields := strings.SplitN(line, "|", 4)
		if len(fields) < 2 {
			continue
		}
		typ, ok := types[fields[0]]
		if !ok {
			continue
		}
		h := &tar.Header{Typeflag: typ, Name: fields[1], Mode: 0o755, ModTime: time.Unix(0, 0)}
		if len(fields) > 2 {
			h.Linkname = fields[2]
		}
		if len(fields) > 3 && typ == tar.TypeReg {
			h.Size, _ = strconv.ParseInt(fields[3], 10, 64)
			h.Size = max(h.Size, 0)
		}
		if tw.WriteHeader(h) != nil {
			continue
		}
		if h.Size > 4096 {
			return buf.Bytes() // a huge file whose content never comes
		}
		tw.Write(bytes.Repeat([]byte("z"), int(h.Size)))
	}
	tw.Close()
	return buf.Bytes()
}
