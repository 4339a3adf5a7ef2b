package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxArchiveJSON bounds index.json and manifests read from an archive.
const maxArchiveJSON = 4 << 20

func archiveTag(tag string) *name.Tag {
	t, err := name.NewTag(tag)
	if err != nil {
		return nil
	}
	return &t
}

// tarArchive indexes the regular files of an uncompressed tar by name so that
// blobs can be read in place (as section readers) instead of extracting the
// archive to disk first.
type tarArchive struct {
	path    string
	entries map[string]tarSection
}

type tarSection struct{ off, size int64 }

// countingReader tracks the offset archive/tar has consumed, which is where
// the data of the entry just returned by Next starts.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func indexTar(path string) (*tarArchive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	a := &tarArchive{path: path, entries: map[string]tarSection{}}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			a.entries[tarEntryName(h)] = tarSection{off: cr.n, size: h.Size}
		}
	}
	if len(a.entries) == 0 {
		return nil, errors.New("empty or not a tar archive")
	}
	return a, nil
}

func (a *tarArchive) has(name string) bool { _, ok := a.entries[name]; return ok }

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

func (a *tarArchive) open(name string) (io.ReadCloser, int64, error) {
	s, ok := a.entries[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s not in archive %s", name, a.path)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, 0, err
	}
	return sectionReadCloser{io.NewSectionReader(f, s.off, s.size), f}, s.size, nil
}

func (a *tarArchive) readAll(name string) ([]byte, error) {
	rc, size, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > maxArchiveJSON {
		return nil, fmt.Errorf("%s is too large (%d bytes)", name, size)
	}
	return io.ReadAll(rc)
}

func blobName(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

func (a *tarArchive) blob(h v1.Hash) ([]byte, error) {
	b, err := a.readAll(blobName(h))
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != h {
		return nil, fmt.Errorf("blob %s in %s has digest %s", h, a.path, got)
	}
	return b, nil
}

func (a *tarArchive) rootIndex() (*tarIndex, error) {
	b, err := a.readAll("index.json")
	if err != nil {
		return nil, err
	}
	return parseTarIndex(a, b)
}

func parseTarIndex(a *tarArchive, b []byte) (*tarIndex, error) {
	var im v1.IndexManifest
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("parse index: %w", err)
	}
	return &tarIndex{a: a, im: &im}, nil
}

// tarIndex is an OCI index stored in a tarArchive.
type tarIndex struct {
	a  *tarArchive
	im *v1.IndexManifest
}

func (t *tarIndex) IndexManifest() (*v1.IndexManifest, error) { return t.im, nil }

func (t *tarIndex) child(h v1.Hash) (indexSource, error) {
	b, err := t.a.blob(h)
	if err != nil {
		return nil, err
	}
	return parseTarIndex(t.a, b)
}

func (t *tarIndex) Image(h v1.Hash) (v1.Image, error) {
	raw, err := t.a.blob(h)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", h, err)
	}
	return partial.CompressedToImage(&tarImage{a: t.a, raw: raw, m: m})
}

// tarImage implements partial.CompressedImageCore over blobs in the archive.
type tarImage struct {
	a   *tarArchive
	raw []byte
	m   *v1.Manifest
}

func (t *tarImage) RawConfigFile() ([]byte, error) { return t.a.blob(t.m.Config.Digest) }
func (t *tarImage) RawManifest() ([]byte, error)   { return t.raw, nil }

func (t *tarImage) MediaType() (types.MediaType, error) {
	if t.m.MediaType != "" {
		return t.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (t *tarImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range t.m.Layers {
		if d.Digest == h {
			return &tarLayer{a: t.a, d: d}, nil
		}
	}
	if t.m.Config.Digest == h {
		return &tarLayer{a: t.a, d: t.m.Config}, nil
	}
	return nil, fmt.Errorf("blob %s is not part of the image", h)
}

type tarLayer struct {
	a *tarArchive
	d v1.Descriptor
}

func (l *tarLayer) Digest() (v1.Hash, error)            { return l.d.Digest, nil }
func (l *tarLayer) Size() (int64, error)                { return l.d.Size, nil }
func (l *tarLayer) MediaType() (types.MediaType, error) { return l.d.MediaType, nil }

// Compressed streams the layer blob; go-containerregistry verifies its digest
// as it is read.
func (l *tarLayer) Compressed() (io.ReadCloser, error) {
	rc, _, err := l.a.open(blobName(l.d.Digest))
	return rc, err
}
