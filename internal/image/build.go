package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of an image built by FromFiles.
type File struct {
	// Mode holds the permission bits, plus fs.ModeDir for a directory or
	// fs.ModeSymlink for a symlink. Zero means 0644 for a file.
	Mode     fs.FileMode
	Data     []byte
	Link     string // symlink target
	UID, GID int
}

// epoch is the timestamp of everything FromFiles writes, so that the same
// files and config always give the same digest (and hit the disk cache).
var epoch = time.Unix(0, 0).UTC()

// FromFiles builds a single-layer OCI image holding files (keyed by absolute
// or relative path; parent directories are added as needed) with cfg as
// its run configuration.
func FromFiles(files map[string]File, cfg ImageConfig) (v1.Image, error) {
	raw, err := tarFiles(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "zeitwork image.FromFiles"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	cfg.apply(&cf.Config)
	return mutate.ConfigFile(img, cf)
}

func tarFiles(files map[string]File) ([]byte, error) {
	all := map[string]File{}
	for name, f := range files {
		clean, err := cleanPath(name)
		if err != nil || clean == "" {
			return nil, fmt.Errorf("build image: bad file name %q", name)
		}
		all[clean] = f
		for dir := path.Dir(clean); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = File{Mode: fs.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := writeTarFile(tw, n, all[n]); err != nil {
			return nil, fmt.Errorf("build image: %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	return buf.Bytes(), nil
}

func writeTarFile(tw *tar.Writer, name string, f File) error {
	h := &tar.Header{Name: name, Uid: f.UID, Gid: f.GID, ModTime: epoch, Mode: int64(f.Mode.Perm())}
	if f.Mode&fs.ModeSetuid != 0 {
		h.Mode |= 0o4000
	}
	switch {
	case f.Mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case f.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		if f.Mode.Perm() == 0 {
			h.Mode = 0o644
		}
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(f.Data)
	return err
}

// WriteLayout writes img into the OCI image layout at dir (created if
// missing), named tag in index.json; an image already tagged so is replaced.
func WriteLayout(dir string, img v1.Image, tag string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("create OCI layout %s: %w", dir, err)
		}
	}
	if tag == "" {
		err = p.AppendImage(img)
	} else {
		err = p.ReplaceImage(img, match.Annotation(refNameAnnotation, tag),
			layout.WithAnnotations(map[string]string{refNameAnnotation: tag}))
	}
	if err != nil {
		return fmt.Errorf("write image to OCI layout %s: %w", dir, err)
	}
	return nil
}

// PasswdFiles returns /etc/passwd and /etc/group declaring root and one
// unprivileged user (uid and gid 1000, named name), for images built from
// files.
func PasswdFiles(name string) map[string]File {
	passwd := strings.Join([]string{
		"root:x:0:0:root:/root:/sbin/nologin",
		fmt.Sprintf("%s:x:1000:1000:%s:/home/%s:/sbin/nologin", name, name, name),
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin", ""}, "\n")
	group := strings.Join([]string{"root:x:0:", fmt.Sprintf("%s:x:1000:", name), "nogroup:x:65534:", ""}, "\n")
	return map[string]File{
		"etc/passwd":   {Mode: 0o644, Data: []byte(passwd)},
		"etc/group":    {Mode: 0o644, Data: []byte(group)},
		"home/" + name: {Mode: fs.ModeDir | 0o755, UID: 1000, GID: 1000},
		"tmp":          {Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}
