package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

const (
	mediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIIndex    = "application/vnd.oci.image.index.v1+json"
)

var manifestTypes = map[string]bool{
	mediaTypeOCIManifest: true,
	mediaTypeOCIIndex:    true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// manifestDoc is what the registry reads of a manifest: the references it
// must hold before it accepts it, and what the referrers API reports.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// nondistributable reports whether a layer is one that registries need
// not hold (its content comes from elsewhere, such as a base OS layer
// with licence limits): a manifest may reference it without a push.
func (d descriptor) nondistributable() bool {
	return strings.HasPrefix(d.MediaType, "application/vnd.oci.image.layer.nondistributable.") ||
		strings.HasPrefix(d.MediaType, "application/vnd.docker.image.rootfs.foreign.")
}

func (g *Registry) manifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	if strings.Contains(ref, ":") && !validDigest(ref) {
		return invalidDigest(ref)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return g.getManifest(w, r, name, ref)
	case http.MethodPut:
		return g.putManifest(w, r, name, ref)
	case http.MethodDelete:
		return g.deleteManifest(w, r, name, ref)
	}
	return methodNotAllowed(r)
}

func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// resolve turns a tag or digest into a digest held by the repository.
func (g *Registry) resolve(ctx context.Context, name, ref string) (string, *apiError) {
	digest := ref
	if !isDigest(ref) {
		b, err := g.readSmall(ctx, tagKey(name, ref))
		if isNotExist(err) {
			return "", errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest %s:%s not found", name, ref)
		}
		if err != nil {
			return "", internal("read tag", err)
		}
		digest = strings.TrimSpace(string(b))
	}
	if !g.has(ctx, manifestLinkKey(name, digest)) {
		return "", errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest %s@%s not found", name, digest)
	}
	return digest, nil
}

func (g *Registry) getManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	ctx := r.Context()
	digest, aerr := g.resolve(ctx, name, ref)
	if aerr != nil {
		return aerr
	}
	mediaType, err := g.readSmall(ctx, manifestLinkKey(name, digest))
	if err != nil {
		return internal("read manifest link", err)
	}
	body, err := g.readSmall(ctx, blobKey(digest))
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

func (g *Registry) readManifestBody(r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > g.maxManifest {
		return nil, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", g.maxManifest)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxManifest+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "MANIFEST_INVALID", "read manifest: %v", err)
	}
	if int64(len(body)) > g.maxManifest {
		return nil, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", g.maxManifest)
	}
	return body, nil
}

// parseManifest reads a manifest and its media type (from the document,
// else from Content-Type).
func parseManifest(r *http.Request, body []byte) (*manifestDoc, string, *apiError) {
	var doc manifestDoc
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil || doc.SchemaVersion != 2 {
		return nil, "", errorf(http.StatusBadRequest, "MANIFEST_INVALID", "not a schema 2 manifest")
	}
	mediaType := doc.MediaType
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); mediaType == "" {
		mediaType = strings.TrimSpace(ct)
	}
	if !manifestTypes[mediaType] {
		return nil, "", errorf(http.StatusBadRequest, "MANIFEST_INVALID", "unsupported manifest media type %q", mediaType)
	}
	if doc.Subject != nil && !validDigest(doc.Subject.Digest) {
		return nil, "", errorf(http.StatusBadRequest, "MANIFEST_INVALID", "subject digest %q is not a sha256 or sha512 digest", doc.Subject.Digest)
	}
	return &doc, mediaType, nil
}

func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	ctx := r.Context()
	body, aerr := g.readManifestBody(r)
	if aerr != nil {
		return aerr
	}
	doc, mediaType, aerr := parseManifest(r, body)
	if aerr != nil {
		return aerr
	}
	algo := "sha256" // by tag: the canonical algorithm; by digest: the client's
	if isDigest(ref) {
		algo, _ = splitDigest(ref)
	}
	digest := digestOf(algo, body)
	if isDigest(ref) && ref != digest {
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "manifest has digest %s, not %s", digest, ref)
	}
	// Shared with other writers, exclusive of GC: the references are
	// checked, touched and stored before GC may delete anything again.
	g.gcMu.RLock()
	defer g.gcMu.RUnlock()
	if aerr := g.checkReferences(ctx, name, doc); aerr != nil {
		return aerr
	}
	if err := g.putBlob(ctx, name, digest, body); err != nil {
		return internal("store manifest", err)
	}
	if err := g.putSmall(ctx, manifestLinkKey(name, digest), []byte(mediaType)); err != nil {
		return internal("store manifest", err)
	}
	if !isDigest(ref) {
		if err := g.putSmall(ctx, tagKey(name, ref), []byte(digest)); err != nil {
			return internal("store tag", err)
		}
	}
	if doc.Subject != nil {
		if err := g.addReferrer(ctx, name, doc, mediaType, digest, int64(len(body))); err != nil {
			return internal("store referrer", err)
		}
		w.Header().Set("OCI-Subject", doc.Subject.Digest)
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkReferences refuses a manifest whose config, layers or child
// manifests the repository does not hold, so that a tag never points at
// an image that cannot be pulled. Non-distributable layers and the
// subject (a referrer may come before what it refers to) are exempt.
func (g *Registry) checkReferences(ctx context.Context, name string, doc *manifestDoc) *apiError {
	blobs := doc.Layers
	if doc.Config != nil {
		blobs = append(blobs, *doc.Config)
	}
	for _, d := range blobs {
		if d.nondistributable() {
			continue
		}
		// Touching keeps a blob that GC found unreferenced a moment ago
		// from being deleted now that this manifest references it.
		if !validDigest(d.Digest) || !g.has(ctx, blobLinkKey(name, d.Digest)) || !g.touch(ctx, blobKey(d.Digest)) {
			return errorf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob %s is not in %s; push it first", d.Digest, name)
		}
	}
	for _, d := range doc.Manifests {
		if !validDigest(d.Digest) || !g.has(ctx, manifestLinkKey(name, d.Digest)) || !g.touch(ctx, blobKey(d.Digest)) {
			return errorf(http.StatusBadRequest, "MANIFEST_UNKNOWN", "manifest %s is not in %s; push it first", d.Digest, name)
		}
	}
	return nil
}

func (g *Registry) deleteManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	ctx := r.Context()
	digest, aerr := g.resolve(ctx, name, ref)
	if aerr != nil {
		return aerr
	}
	if !isDigest(ref) {
		if err := g.store.Delete(ctx, tagKey(name, ref)); err != nil {
			return internal("delete tag", err)
		}
	} else if err := g.untag(ctx, name, digest); err != nil {
		return internal("delete manifest", err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// untag removes a manifest from a repository: its link, the tags that
// point at it and its entry in its subject's referrers.
func (g *Registry) untag(ctx context.Context, name, digest string) error {
	if body, err := g.readSmall(ctx, blobKey(digest)); err == nil {
		var doc manifestDoc
		if json.Unmarshal(body, &doc) == nil && doc.Subject != nil && validDigest(doc.Subject.Digest) {
			if err := g.store.Delete(ctx, referrerKey(name, doc.Subject.Digest, digest)); err != nil {
				return err
			}
		}
	}
	if err := g.store.Delete(ctx, manifestLinkKey(name, digest)); err != nil {
		return err
	}
	tags, _ := g.listTags(ctx, name)
	for _, t := range tags {
		if b, _ := g.readSmall(ctx, tagKey(name, t)); string(b) == digest {
			if err := g.store.Delete(ctx, tagKey(name, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *Registry) listTags(ctx context.Context, name string) ([]string, error) {
	prefix := repoKey(name, "_tags") + "/"
	keys, err := g.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, strings.TrimPrefix(k, prefix))
	}
	sort.Strings(tags)
	return tags, nil
}

func (g *Registry) tags(w http.ResponseWriter, r *http.Request, name string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	ctx := r.Context()
	tags, err := g.listTags(ctx, name)
	if err != nil {
		return internal("list tags", err)
	}
	if len(tags) == 0 {
		if keys, err := g.store.List(ctx, repoKey(name)); err != nil || len(keys) == 0 {
			return errorf(http.StatusNotFound, "NAME_UNKNOWN", "repository %s not found", name)
		}
	}
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 && n < len(tags) {
		tags = tags[:n]
		if n > 0 {
			w.Header().Set("Link", "</v2/"+name+"/tags/list?n="+strconv.Itoa(n)+"&last="+tags[len(tags)-1]+`>; rel="next"`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"name": name, "tags": tags})
	return nil
}
