package buildcontext

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/zeitwork/zeitwork/internal/build"
)

// Pack writes dir as a tar.gz stream to w, leaving out what dir's
// .dockerignore excludes (Docker's semantics, through Docker's own
// matcher). The Dockerfile and .dockerignore are always sent, as Docker
// does, and a Containerfile too when dockerfile is the default name. limit bounds the total size of the files sent; past it Pack stops
// with ErrTooLarge. It returns the bytes of file content sent.
func Pack(dir, dockerfile string, w io.Writer, limit int64) (int64, error) {
	pm, err := ignoreMatcher(dir)
	if err != nil {
		return 0, err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	always := map[string]bool{".dockerignore": true, filepath.ToSlash(filepath.Clean(dockerfile)): true}
	if dockerfile == "" || dockerfile == build.DefaultDockerfile {
		// The build falls back to it without a Dockerfile.
		always[build.Containerfile] = true
	}
	p := &packer{dir: dir, pm: pm, tw: tw, left: limit, limit: limit, always: always}
	if err := filepath.WalkDir(dir, p.walk); err != nil {
		return p.sent, err
	}
	if err := tw.Close(); err != nil {
		return p.sent, err
	}
	return p.sent, zw.Close()
}

func ignoreMatcher(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return patternmatcher.New(nil)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}

type packer struct {
	dir         string
	pm          *patternmatcher.PatternMatcher
	tw          *tar.Writer
	always      map[string]bool
	left, limit int64
	sent        int64
}

func (p *packer) walk(file string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(p.dir, file)
	if err != nil || rel == "." {
		return err
	}
	rel = filepath.ToSlash(rel)
	skip, err := p.pm.MatchesOrParentMatches(rel)
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	if skip && !p.always[rel] {
		// A directory is skipped whole unless a "!" pattern may take
		// something inside it back.
		if d.IsDir() && !p.pm.Exclusions() {
			return filepath.SkipDir
		}
		return nil
	}
	return p.add(file, rel, d)
}

func (p *packer) add(file, rel string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		if link, err = os.Readlink(file); err != nil {
			return err
		}
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil // sockets, fifos and devices have no place in an image build
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	hdr.Uname, hdr.Gname, hdr.Uid, hdr.Gid = "", "", 0, 0
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if fi.Mode().IsRegular() {
		if fi.Size() > p.left {
			return fmt.Errorf("%w: more than %d MiB to send (at %s); exclude what the build does not need in .dockerignore",
				ErrTooLarge, p.limit>>20, rel)
		}
		p.left -= fi.Size()
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyN(p.tw, f, fi.Size())
	p.sent += n
	return err
}
