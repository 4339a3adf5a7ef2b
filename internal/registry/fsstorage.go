package registry

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// fsStorage keeps objects as files under one directory, written through a
// temporary file and a rename so that readers never see a part. It is the
// default for a single operator.
type fsStorage struct{ dir string }

// NewFS returns a Storage in directory dir, created if needed.
func NewFS(dir string) (Storage, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create registry storage: %w", err)
	}
	return &fsStorage{dir: dir}, nil
}

func (s *fsStorage) path(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

func (s *fsStorage) Put(_ context.Context, key string, r io.Reader) error {
	path := s.path(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "w-")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (s *fsStorage) Open(_ context.Context, key string) (io.ReadSeekCloser, error) {
	return os.Open(s.path(key))
}

func (s *fsStorage) Stat(_ context.Context, key string) (Info, error) {
	info, err := os.Stat(s.path(key))
	if err != nil {
		return Info{}, err
	}
	return Info{Size: info.Size(), ModTime: info.ModTime()}, nil
}

func (s *fsStorage) Touch(_ context.Context, key string) error {
	now := time.Now()
	return os.Chtimes(s.path(key), now, now)
}

func (s *fsStorage) Move(_ context.Context, from, to string) error {
	if err := os.MkdirAll(filepath.Dir(s.path(to)), 0o700); err != nil {
		return err
	}
	return os.Rename(s.path(from), s.path(to))
}

func (s *fsStorage) Delete(_ context.Context, key string) error {
	if err := os.Remove(s.path(key)); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

// DeletePrefix removes the directory a prefix ending in "/" names; the
// registry uses no other prefixes.
func (s *fsStorage) DeletePrefix(_ context.Context, prefix string) error {
	return os.RemoveAll(s.path(prefix))
}

func (s *fsStorage) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	root := s.path(prefix)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) {
				return nil // removed while we walked, or never there
			}
			return err
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(s.dir, path)
			if err != nil {
				return err
			}
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

var _ Storage = (*fsStorage)(nil)
