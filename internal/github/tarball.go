package github

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zeitwork/zeitwork/internal/build/buildcontext"
)

// BuildContext turns a commit's tarball into the build context of a
// project: the tarball is extracted with the safe extractor (the
// repository is the tenant's), its one top-level directory
// ("owner-repo-sha/") is stripped, and rootDir inside it is packed again
// with buildcontext.Repack, as for a git push. limit bounds the extracted
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
	return buildcontext.Repack(top, rootDir, dockerfile, limit)
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
