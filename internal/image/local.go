package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// refNameAnnotation is how an OCI layout's index.json names (tags) an image.
const refNameAnnotation = "org.opencontainers.image.ref.name"

func resolveLocal(path string, sel selector, platform v1.Platform) (v1.Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: path %s does not exist", ErrNotFound, path)
		}
		return nil, fmt.Errorf("open image %s: %w", path, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "index.json")); err != nil {
			return nil, fmt.Errorf("%w: path %s is neither an OCI layout nor an image archive (no index.json)", ErrInvalidRef, path)
		}
		idx, err := layout.ImageIndexFromPath(path)
		if err != nil {
			return nil, fmt.Errorf("read OCI layout %s: %w", path, err)
		}
		return pickImage(ggcrIndex{idx}, path, sel, platform)
	}
	return resolveArchive(path, sel, platform)
}

func resolveArchive(path string, sel selector, platform v1.Platform) (v1.Image, error) {
	arch, err := indexTar(path)
	if err != nil {
		return nil, fmt.Errorf("%w: path %s is neither an OCI layout nor an image archive: %v", ErrInvalidRef, path, err)
	}
	switch {
	case arch.has("index.json"):
		idx, err := arch.rootIndex()
		if err != nil {
			return nil, fmt.Errorf("read OCI archive %s: %w", path, err)
		}
		return pickImage(idx, path, sel, platform)
	case arch.has("manifest.json"):
		return dockerArchiveImage(path, sel)
	}
	return nil, fmt.Errorf("%w: path %s is neither an OCI layout nor an image archive (no index.json or manifest.json inside)", ErrInvalidRef, path)
}

func dockerArchiveImage(path string, sel selector) (v1.Image, error) {
	if sel.digest != "" {
		return nil, fmt.Errorf("%w: docker archive %s cannot be selected by digest; use :tag", ErrInvalidRef, path)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	var img v1.Image
	var err error
	if sel.tag != "" {
		img, err = tarball.Image(opener, archiveTag(sel.tag))
	} else {
		img, err = tarball.Image(opener, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("read docker archive %s%s: %w", path, sel, err)
	}
	return img, nil
}

// indexSource is what picking an image needs from an OCI index, whether it
// lives in a layout directory or inside a tar archive.
type indexSource interface {
	IndexManifest() (*v1.IndexManifest, error)
	Image(v1.Hash) (v1.Image, error)
	child(v1.Hash) (indexSource, error)
}

type ggcrIndex struct{ idx v1.ImageIndex }

func (g ggcrIndex) IndexManifest() (*v1.IndexManifest, error) { return g.idx.IndexManifest() }
func (g ggcrIndex) Image(h v1.Hash) (v1.Image, error)         { return g.idx.Image(h) }

func (g ggcrIndex) child(h v1.Hash) (indexSource, error) {
	idx, err := g.idx.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return ggcrIndex{idx}, nil
}

// pickImage selects the image sel names from the top-level index of a
// layout: by digest, by ref-name annotation, or the only entry there is.
// A multi-platform index found that way is narrowed to platform.
func pickImage(idx indexSource, where string, sel selector, platform v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index of %s: %w", where, err)
	}
	var matches []v1.Descriptor
	for _, d := range im.Manifests {
		switch {
		case sel.digest != "" && d.Digest.String() == sel.digest,
			sel.tag != "" && tagMatches(d.Annotations, sel.tag),
			sel == selector{}:
			matches = append(matches, d)
		}
	}
	switch {
	case len(matches) == 0 && sel == selector{}:
		return nil, fmt.Errorf("%w: %s holds no images", ErrNotFound, where)
	case len(matches) == 0:
		return nil, fmt.Errorf("%w: image %s%s not found (tags there: %s)", ErrNotFound, where, sel, strings.Join(tagsOf(im), ", "))
	case len(matches) > 1:
		return nil, fmt.Errorf("%w: %s holds %d images; choose one with %s:TAG or %s@DIGEST (tags: %s)",
			ErrInvalidRef, where, len(matches), where, where, strings.Join(tagsOf(im), ", "))
	}
	return descend(idx, matches[0], where, platform)
}

func descend(idx indexSource, d v1.Descriptor, where string, platform v1.Platform) (v1.Image, error) {
	if !d.MediaType.IsIndex() {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read image %s in %s: %w", d.Digest, where, err)
		}
		return img, nil
	}
	child, err := idx.child(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("read index %s in %s: %w", d.Digest, where, err)
	}
	im, err := child.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index %s in %s: %w", d.Digest, where, err)
	}
	if len(im.Manifests) == 1 {
		return descend(child, im.Manifests[0], where, platform)
	}
	for _, m := range im.Manifests {
		// Attestations and other platforms are skipped here.
		if m.Platform != nil && m.Platform.Satisfies(platform) {
			return descend(child, m, where, platform)
		}
	}
	return nil, fmt.Errorf("%w: %s has no image for %s", ErrNotFound, where, platform.String())
}

func tagMatches(ann map[string]string, tag string) bool {
	if ann[refNameAnnotation] == tag {
		return true
	}
	// containerd and buildah may record the full name ("host/app:tag").
	full := ann["io.containerd.image.name"]
	return full != "" && strings.HasSuffix(full, ":"+tag)
}

func tagsOf(im *v1.IndexManifest) []string {
	var tags []string
	for _, d := range im.Manifests {
		if t := d.Annotations[refNameAnnotation]; t != "" {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return []string{"none"}
	}
	sort.Strings(tags)
	return tags
}

// tarEntryName normalises the name of an entry in an image archive.
func tarEntryName(h *tar.Header) string {
	return strings.TrimPrefix(filepath.ToSlash(filepath.Clean("/"+h.Name)), "/")
}
