package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
)

var manifestTypes = map[string]bool{
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// manifestDoc is what the registry reads of a manifest: the references it
// must hold before it accepts it.
type manifestDoc struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"`
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

func (g *Registry) manifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return g.getManifest(w, r, name, ref)
	case http.MethodPut:
		return g.putManifest(w, r, name, ref)
	case http.MethodDelete:
		return g.deleteManifest(w, name, ref)
	}
	return methodNotAllowed(r)
}

// resolve turns a tag or digest into a digest held by the repository.
func (g *Registry) resolve(name, ref string) (string, *apiError) {
	digest := ref
	if !reDigest.MatchString(ref) {
		b, err := os.ReadFile(g.tagPath(name, ref))
		if isNotExist(err) {
			return "", errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest %s:%s not found", name, ref)
		}
		if err != nil {
			return "", internal("read tag", err)
		}
		digest = strings.TrimSpace(string(b))
	}
	if !exists(g.manifestLink(name, digest)) {
		return "", errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest %s@%s not found", name, digest)
	}
	return digest, nil
}

func (g *Registry) getManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	digest, aerr := g.resolve(name, ref)
	if aerr != nil {
		return aerr
	}
	mediaType, err := os.ReadFile(g.manifestLink(name, digest))
	if err != nil {
		return internal("read manifest link", err)
	}
	body, err := os.ReadFile(g.blobPath(digest))
	if err != nil {
		return internal("read manifest", err)
	}
	w.Header().Set("Content-Type", string(mediaType))
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("ETag", `"`+digest+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	if r.ContentLength > g.maxManifest {
		return errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", g.maxManifest)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxManifest+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "read manifest: %v", err)
	}
	if int64(len(body)) > g.maxManifest {
		return errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", g.maxManifest)
	}
	var doc manifestDoc
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil || doc.SchemaVersion != 2 {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "not a schema 2 manifest")
	}
	mediaType := doc.MediaType
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); mediaType == "" {
		mediaType = strings.TrimSpace(ct)
	}
	if !manifestTypes[mediaType] {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "unsupported manifest media type %q", mediaType)
	}
	// Shared with other writers, exclusive of GC: the references are
	// checked, touched and stored before GC may delete anything again.
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if aerr := g.checkReferences(name, &doc); aerr != nil {
		return aerr
	}
	sum := sha256.Sum256(body)
	if digest := "sha256:" + hex.EncodeToString(sum[:]); reDigest.MatchString(ref) && ref != digest {
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "manifest has digest %s, not %s", digest, ref)
	}
	digest, err := g.putBlob(name, body)
	if err != nil {
		return internal("store manifest", err)
	}
	if err := g.writeAtomic(g.manifestLink(name, digest), []byte(mediaType)); err != nil {
		return internal("store manifest", err)
	}
	if !reDigest.MatchString(ref) {
		if err := g.writeAtomic(g.tagPath(name, ref), []byte(digest)); err != nil {
			return internal("store tag", err)
		}
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkReferences refuses a manifest whose config, layers or child
// manifests the repository does not hold, so that a tag never points at
// an image that cannot be pulled.
func (g *Registry) checkReferences(name string, doc *manifestDoc) *apiError {
	blobs := doc.Layers
	if doc.Config != nil {
		blobs = append(blobs, *doc.Config)
	}
	for _, d := range blobs {
		// Touching keeps a blob that GC found unreferenced a moment ago
		// from being deleted now that this manifest references it.
		if !reDigest.MatchString(d.Digest) || !exists(g.blobLink(name, d.Digest)) || !touch(g.blobPath(d.Digest)) {
			return errorf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob %s is not in %s; push it first", d.Digest, name)
		}
	}
	for _, d := range doc.Manifests {
		if !reDigest.MatchString(d.Digest) || !exists(g.manifestLink(name, d.Digest)) || !touch(g.blobPath(d.Digest)) {
			return errorf(http.StatusBadRequest, "MANIFEST_UNKNOWN", "manifest %s is not in %s; push it first", d.Digest, name)
		}
	}
	return nil
}

func (g *Registry) deleteManifest(w http.ResponseWriter, name, ref string) *apiError {
	digest, aerr := g.resolve(name, ref)
	if aerr != nil {
		return aerr
	}
	if !reDigest.MatchString(ref) {
		os.Remove(g.tagPath(name, ref))
	} else {
		os.Remove(g.manifestLink(name, digest))
		tags, _ := g.listTags(name)
		for _, t := range tags {
			if b, _ := os.ReadFile(g.tagPath(name, t)); string(b) == digest {
				os.Remove(g.tagPath(name, t))
			}
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (g *Registry) listTags(name string) ([]string, error) {
	entries, err := os.ReadDir(g.repoPath(name, "_tags"))
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(entries))
	for _, e := range entries {
		tags = append(tags, e.Name())
	}
	sort.Strings(tags)
	return tags, nil
}

func (g *Registry) tags(w http.ResponseWriter, r *http.Request, name string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	tags, err := g.listTags(name)
	if isNotExist(err) {
		if !exists(g.repoPath(name)) {
			return errorf(http.StatusNotFound, "NAME_UNKNOWN", "repository %s not found", name)
		}
		tags = []string{}
	} else if err != nil {
		return internal("list tags", err)
	}
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n > 0 && n < len(tags) {
		tags = tags[:n]
		w.Header().Set("Link", "</v2/"+name+"/tags/list?n="+strconv.Itoa(n)+"&last="+tags[len(tags)-1]+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": tags})
	return nil
}
