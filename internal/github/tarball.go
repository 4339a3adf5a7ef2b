package github

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
)

// BuildContext turns a commit's tarball into the build context of a
// project: the tarball is extracted with the safe extractor (the
// repository is the tenant's), its one top-level directory
// ("owner-repo-sha/") is stripped, and rootDir inside it is packed again
// as a tar.gz, honouring its .dockerignore. limit bounds the extracted
// and the packed size.
func BuildContext(tarball []byte, rootDir, dockerfile string, limit int64) ([]byte, error) {
	dir, err := os.MkdirTemp("", "zeitwork-github-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := buildcontext.Extract(bytes.NewReader(tarball), dir, limit); err != nil {
		return nil, fmt.Errorf("extract tarball: %w", err)
	}
	top, err := topDir(dir)
	if err != nil {
		return nil, err
	}
	root, err := subdir(top, rootDir)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if _, err := buildcontext.Pack(root, dockerfile, &out, limit); err != nil {
		return nil, fmt.Errorf("pack build context: %w", err)
	}
	return out.Bytes(), nil
}

// topDir is the tarball's single top-level directory.
func topDir(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(ents) != 1 || !ents[0].IsDir() {
		return "", fmt.Errorf("%w: tarball has %d top-level entries, want one directory", buildcontext.ErrInvalid, len(ents))
	}
	return filepath.Join(dir, ents[0].Name()), nil
}

// subdir resolves the project's root directory inside the repository,
// following symlinks but never out of it.
func subdir(top, rootDir string) (string, error) {
	rel := filepath.Clean(filepath.FromSlash(strings.TrimPrefix(rootDir, "/")))
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w: root directory %q leaves the repository", buildcontext.ErrInvalid, rootDir)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(top, rel))
	if err != nil {
		return "", fmt.Errorf("%w: root directory %q not in the commit", buildcontext.ErrInvalid, rootDir)
	}
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return "", err
	}
	if r, err := filepath.Rel(realTop, real); err != nil || !filepath.IsLocal(r) && r != "." {
		return "", fmt.Errorf("%w: root directory %q leaves the repository", buildcontext.ErrInvalid, rootDir)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: root directory %q is not a directory in the commit", buildcontext.ErrInvalid, rootDir)
	}
	return real, nil
}
