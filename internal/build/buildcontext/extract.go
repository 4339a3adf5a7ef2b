// Package buildcontext moves a build context between the CLI and the
// builder: Pack writes a directory as a tar.gz stream honouring
// .dockerignore, and Extract unpacks an uploaded stream, which is hostile,
// into a fresh directory without ever writing outside it.
package buildcontext

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// ErrInvalid marks an archive that is malformed or unsafe (paths with ..,
// absolute paths, links leaving the context, devices); ErrTooLarge one
// whose files add up to more than the limit. Both are the uploader's
// doing and their messages are meant for them.
var (
	ErrInvalid  = errors.New("invalid build context")
	ErrTooLarge = errors.New("build context too large")
)

// MaxEntries bounds the files, directories and links of one context.
const MaxEntries = 200_000

// Extract unpacks a tar or tar.gz stream into dir, which must exist and be
// empty. limit bounds the total size of the files. On error dir may hold
// part of the archive; the caller removes it.
func Extract(r io.Reader, dir string, limit int64) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract build context: %w", err)
	}
	defer root.Close()
	tr, err := tarReader(r)
	if err != nil {
		return err
	}
	x := &extractor{root: root, left: limit, limit: limit}
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: read archive: %v", ErrInvalid, err)
		}
		if n >= MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrTooLarge, MaxEntries)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.checkLinks()
}

// tarReader reads plain or gzip-compressed tar, told apart by the gzip
// magic bytes.
func tarReader(r io.Reader) (*tar.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: read gzip: %v", ErrInvalid, err)
		}
		return tar.NewReader(zr), nil
	}
	return tar.NewReader(br), nil
}

type extractor struct {
	root        *os.Root
	left, limit int64
	links       []string // symlinks, checked once all entries exist
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil
	}
	if err := x.parentsAreDirs(name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(name, 0o755); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, hdr.Name, err)
		}
		return nil
	case tar.TypeReg, tar.TypeRegA:
		return x.file(name, hdr, r)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || path.IsAbs(hdr.Linkname) {
			return fmt.Errorf("%w: symlink %s points to %q, outside the context", ErrInvalid, hdr.Name, hdr.Linkname)
		}
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, hdr.Name, err)
		}
		x.links = append(x.links, name)
		return nil
	case tar.TypeLink:
		return x.hardlink(name, hdr)
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil
	}
	return fmt.Errorf("%w: %s is a device, fifo or other special file (type %q); only files, directories and links may be in a context",
		ErrInvalid, hdr.Name, string(hdr.Typeflag))
}

// cleanName turns an entry's name into a relative path inside the
// context, refusing absolute paths and any ".." component.
func cleanName(raw string) (string, error) {
	if raw == "" || path.IsAbs(raw) || strings.HasPrefix(raw, `\`) || strings.ContainsRune(raw, 0) {
		return "", fmt.Errorf("%w: entry %q has an absolute or empty path", ErrInvalid, raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q leaves the context (..)", ErrInvalid, raw)
		}
	}
	return path.Clean(raw), nil
}

// parentsAreDirs creates the parents of name and refuses to write through
// a symlink: every entry lands where its name says, so that checkLinks
// sees the tree as it is.
func (x *extractor) parentsAreDirs(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	cur := ""
	for _, part := range strings.Split(dir, "/") {
		cur = path.Join(cur, part)
		fi, err := x.root.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			if err := x.root.Mkdir(cur, 0o755); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: entry %q is under %s, which is not a directory", ErrInvalid, name, cur)
		}
	}
	return nil
}

func (x *extractor) file(name string, hdr *tar.Header, r io.Reader) error {
	if hdr.Size > x.left {
		return x.tooLarge()
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(hdr.Mode)&0o755|0o600)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, hdr.Name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, x.left+1))
	x.left -= n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if x.left < 0 {
		return x.tooLarge()
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, hdr.Name, err)
	}
	return nil
}

func (x *extractor) tooLarge() error {
	return fmt.Errorf("%w: its files add up to more than %d MiB", ErrTooLarge, x.limit>>20)
}

// hardlink links name to an earlier regular file of the archive.
func (x *extractor) hardlink(name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return err
	}
	fi, err := x.root.Lstat(target)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: hard link %s must point to an earlier file of the archive, not %q", ErrInvalid, hdr.Name, hdr.Linkname)
	}
	if err := x.root.Link(target, name); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, hdr.Name, err)
	}
	return nil
}

// checkLinks resolves every symlink as the kernel would, through the
// other links, once the whole tree exists: a link is refused if following
// it leaves the context (a lexical check alone misses "a/../x" where a
// is a link to ".").
func (x *extractor) checkLinks() error {
	for _, l := range x.links {
		if _, err := x.resolve(l, 0); err != nil {
			return fmt.Errorf("%w: symlink %s leads outside the context", ErrInvalid, l)
		}
	}
	return nil
}

var errEscapes = errors.New("escapes")

// resolve returns the path, relative to the root, that the symlink at
// name leads to, or errEscapes.
func (x *extractor) resolve(name string, depth int) ([]string, error) {
	if depth > 40 {
		return nil, errEscapes
	}
	target, err := x.root.Readlink(name)
	if err != nil || path.IsAbs(target) {
		return nil, errEscapes
	}
	cur := splitPath(path.Dir(name))
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errEscapes
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, part)
		p := strings.Join(cur, "/")
		if fi, err := x.root.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if cur, err = x.resolve(p, depth+1); err != nil {
				return nil, err
			}
		}
	}
	return cur, nil
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
