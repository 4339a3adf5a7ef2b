package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/uuid"

	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// resolver pins each new deployment's image reference to a digest, so that
// every instance runs the same bytes even if the tag moves, and rejects
// images that cannot run (missing, no entrypoint) before any VM boots.
type resolver struct {
	o        *Operator
	mu       sync.Mutex
	inFlight map[uuid.UUID]bool
	// failingSince is when resolving a deployment's image first failed
	// with an error that might pass (registry unreachable, 5xx).
	failingSince map[uuid.UUID]time.Time
}

func newResolver(o *Operator) *resolver {
	return &resolver{o: o, inFlight: map[uuid.UUID]bool{}, failingSince: map[uuid.UUID]time.Time{}}
}

// start resolves d's image in the background unless that is under way.
func (r *resolver) start(ctx context.Context, d db.Deployment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight[d.ID] {
		return
	}
	r.inFlight[d.ID] = true
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.inFlight, d.ID)
			r.mu.Unlock()
		}()
		r.resolve(ctx, d)
	}()
}

func (r *resolver) resolve(ctx context.Context, d db.Deployment) {
	o := r.o
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pinned, err := r.pinFor(ctx, d)
	if err != nil {
		if permanentImageError(err) || r.givingUp(d.ID) {
			r.forget(d.ID)
			o.failDeployment(ctx, d, failImage, err.Error())
			return
		}
		o.log.Warn("resolve image; will retry", "deployment", d.Slug, "err", err)
		// Written only when it changes: the write wakes the reconciler,
		// which would otherwise retry in a tight loop instead of at resync.
		if reason := "retrying: " + err.Error(); reason != d.StatusReason {
			o.retryDeployment(ctx, d, reason)
		}
		return
	}
	r.forget(d.ID)
	img, err := o.store.UpsertImage(ctx, db.UpsertImageParams{ID: uuid.New(), Reference: d.ImageRef, Digest: pinned.DigestStr()})
	if err == nil {
		err = o.resolveDeployment(ctx, d, img.ID)
	}
	if isLost(err) {
		o.log.Info("deployment changed while its image was resolved; leaving it", "deployment", d.Slug, "err", err)
		return
	}
	if err != nil {
		o.log.Error("record image", "deployment", d.Slug, "err", err)
		return
	}
	o.event(ctx, d, "image", "image resolved to "+pinned.DigestStr())
	o.hub.Bump()
}

// givingUp records a transient failure and reports whether they have gone
// on for too long.
func (r *resolver) givingUp(id uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	since, ok := r.failingSince[id]
	if !ok {
		r.failingSince[id] = time.Now()
		return false
	}
	return time.Since(since) > r.o.cfg.ImageRetry
}

func (r *resolver) forget(id uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failingSince, id)
}

// imageError is a resolution failure users must fix; retrying will not help.
type imageError struct{ msg string }

func (e *imageError) Error() string { return e.msg }

func permanentImageError(err error) bool {
	var ie *imageError
	return errors.As(err, &ie)
}

// pinFor pins d's image after checking, again, that d's organisation may
// use it: the resolver reads the built-in registry with a token that can
// read every tenant's repositories.
func (r *resolver) pinFor(ctx context.Context, d db.Deployment) (name.Digest, error) {
	p, err := r.o.store.GetProject(ctx, d.ProjectID)
	if err != nil {
		return name.Digest{}, fmt.Errorf("load project of deployment %s: %w", d.Slug, err)
	}
	if err := r.o.checkImageSource(ctx, p.OrganisationID, d.ImageRef); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return name.Digest{}, &imageError{ae.msg}
		}
		return name.Digest{}, err
	}
	// The project's own registry credentials, if the image is on their
	// host: never another project's.
	creds, err := r.o.registryFor(ctx, p.ID, d.ImageRef)
	if err != nil {
		return name.Digest{}, err
	}
	return r.pin(ctx, d.ImageRef, creds)
}

// pin resolves ref to a digest. Its errors are shown to users, so they
// carry fixed descriptions, never what the registry answered (the full
// error goes to the operator's log).
func (r *resolver) pin(ctx context.Context, ref string, creds *image.Credentials) (name.Digest, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return name.Digest{}, &imageError{fmt.Sprintf("invalid image reference %q: %v", ref, err)}
	}
	k, t := r.o.egress.Remote(&authn.Basic{Username: "zeitwork", Password: r.o.internalToken}, creds)
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(t), remote.WithAuthFromKeychain(k)}
	desc, err := remote.Get(parsed, opts...)
	if err != nil {
		r.o.log.Info("fetch image", "ref", ref, "err", err)
		var te *transport.Error
		switch {
		case errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
			return name.Digest{}, &imageError{fmt.Sprintf("image %s not found (registry answered %d)", ref, te.StatusCode)}
		case errors.Is(err, image.ErrForbiddenAddress):
			return name.Digest{}, &imageError{fmt.Sprintf("image %s: %s", ref, image.PullReason(err))}
		}
		return name.Digest{}, fmt.Errorf("fetch image %s: %s", ref, image.PullReason(err))
	}
	img, err := desc.Image()
	if err != nil {
		r.o.log.Info("read image", "ref", ref, "err", err)
		return name.Digest{}, &imageError{fmt.Sprintf("image %s: no linux/amd64 image", ref)}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		r.o.log.Info("read image config", "ref", ref, "err", err)
		return name.Digest{}, fmt.Errorf("read config of image %s: %s", ref, image.PullReason(err))
	}
	if len(cfg.Config.Entrypoint) == 0 && len(cfg.Config.Cmd) == 0 {
		return name.Digest{}, &imageError{fmt.Sprintf("image %s has no entrypoint or cmd: set ENTRYPOINT or CMD in its Dockerfile", ref)}
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return parsed.Context().Digest(digest.String()), nil
}

// pinnedRef returns the digest-pinned reference of a deployment's image.
func (o *Operator) pinnedRef(ctx context.Context, d db.Deployment) (string, bool) {
	if !d.ImageID.Valid {
		return "", false
	}
	img, err := o.store.GetImage(ctx, d.ImageID.UUID)
	if err != nil {
		return "", false
	}
	parsed, err := name.ParseReference(img.Reference)
	if err != nil {
		return "", false
	}
	return parsed.Context().Digest(img.Digest).String(), true
}
