package buildcontext

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Reroot turns a repository's archive (tar or tar.gz, as `git archive`
// makes it) into the build context of a project whose root directory in
// the repository is rootDir: the archive is extracted with Extract (the
// repository is the tenant's) and rootDir inside it is packed again with
// Repack. limit bounds the extracted and the packed size.
func Reroot(archive []byte, rootDir, dockerfile string, limit int64) ([]byte, error) {
	dir, err := os.MkdirTemp("", "zeitwork-reroot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := Extract(bytes.NewReader(archive), dir, limit); err != nil {
		return nil, fmt.Errorf("extract repository: %w", err)
	}
	return Repack(dir, rootDir, dockerfile, limit)
}

// Repack packs rootDir inside the extracted repository top as a tar.gz
// build context, honouring rootDir's .dockerignore (the Dockerfile, a
// path relative to rootDir, is always sent).
func Repack(top, rootDir, dockerfile string, limit int64) ([]byte, error) {
	root, err := Subdir(top, rootDir)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if _, err := Pack(root, dockerfile, &out, limit); err != nil {
		return nil, fmt.Errorf("pack build context: %w", err)
	}
	return out.Bytes(), nil
}

// Subdir resolves a project's root directory inside the extracted
// repository top, following symlinks but never out of it. A root
// directory the repository does not have is ErrInvalid.
func Subdir(top, rootDir string) (string, error) {
	rel := filepath.Clean(filepath.FromSlash(strings.TrimPrefix(rootDir, "/")))
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w: root directory %q leaves the repository", ErrInvalid, rootDir)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(top, rel))
	if err != nil {
		return "", fmt.Errorf("%w: root directory %q not in the commit", ErrInvalid, rootDir)
	}
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return "", err
	}
	if r, err := filepath.Rel(realTop, real); err != nil || !filepath.IsLocal(r) && r != "." {
		return "", fmt.Errorf("%w: root directory %q leaves the repository", ErrInvalid, rootDir)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: root directory %q is not a directory in the commit", ErrInvalid, rootDir)
	}
	return real, nil
}
