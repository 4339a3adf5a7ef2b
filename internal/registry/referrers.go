package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// addReferrer records a manifest with a subject under that subject, so
// that the referrers API lists it without reading every manifest.
func (g *Registry) addReferrer(ctx context.Context, name string, doc *manifestDoc, mediaType, digest string, size int64) error {
	d := descriptor{MediaType: mediaType, Digest: digest, Size: size, ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if d.ArtifactType == "" && doc.Config != nil && mediaType != mediaTypeOCIIndex {
		d.ArtifactType = doc.Config.MediaType // as the spec asks for images
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return g.putSmall(ctx, referrerKey(name, doc.Subject.Digest, digest), b)
}

// referrers answers GET /v2/<name>/referrers/<digest>: an image index of
// the manifests whose subject is digest, filtered by ?artifactType=. A
// subject with no referrers, or one not pushed (yet), gives an empty
// index, as the spec asks.
func (g *Registry) referrers(w http.ResponseWriter, r *http.Request, name, subject string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	if !validDigest(subject) {
		return invalidDigest(subject)
	}
	ctx := r.Context()
	keys, err := g.store.List(ctx, referrersPrefix(name, subject))
	if err != nil {
		return internal("list referrers", err)
	}
	filter := r.URL.Query().Get("artifactType")
	manifests := []descriptor{}
	for _, k := range keys {
		b, err := g.readSmall(ctx, k)
		if isNotExist(err) {
			continue // deleted while we listed
		}
		if err != nil {
			return internal("read referrer", err)
		}
		var d descriptor
		if json.Unmarshal(b, &d) != nil || (filter != "" && d.ArtifactType != filter) {
			continue
		}
		manifests = append(manifests, d)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", mediaTypeOCIIndex)
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaTypeOCIIndex, "manifests": manifests})
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}
