package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// pushExternal copies a build's image from the built-in registry (src,
// pinned by digest) to the project's push repository, tagged
// build-<id>, with the project's credentials.
//
// The operator copies rather than having the Builder push there: the
// copy goes through the egress policy, so the tenant-named registry is
// dialled only on a public (or operator-allowed) address and the
// credentials reach that host only, never a redirect's target or a token
// realm elsewhere; buildah would dial anything from the host and hand
// the credentials to any realm. The manifest is copied byte for byte, so
// the digest stays the build's.
func (o *Operator) pushExternal(ctx context.Context, b db.Build, src, repo string, creds *image.Credentials) error {
	dst, err := name.NewTag(repo + ":build-" + b.ID.String()[:8])
	if err != nil {
		return fmt.Errorf("%w: invalid push repository %q: %v", build.ErrUser, repo, err)
	}
	from, err := name.NewDigest(src)
	if err != nil {
		return fmt.Errorf("push to %s: %w", repo, err)
	}
	o.buildLog(ctx, b.ID, "zeitwork: pushing to "+dst.String())
	k, t := o.egress.Remote(&authn.Basic{Username: "zeitwork", Password: o.internalToken}, creds)
	desc, err := remote.Get(from, remote.WithContext(ctx), remote.WithAuthFromKeychain(k), remote.WithTransport(t))
	if err != nil {
		return fmt.Errorf("read built image %s: %w", src, err)
	}
	img, err := desc.Image()
	if err != nil {
		return fmt.Errorf("read built image %s: %w", src, err)
	}
	digest, err := image.PushImage(ctx, img, dst, creds.Auth(), nil, image.WithTransport(t))
	if err != nil {
		o.log.Info("push build to project registry", "build", b.ID, "repo", repo, "err", err)
		if ctx.Err() != nil {
			return err
		}
		// The user's registry and credentials: the reason is theirs to
		// fix, in fixed words (never what the registry answered).
		return fmt.Errorf("%w: push to %s: %s%s", build.ErrUser, repo, image.PullReason(err), pushHint(err))
	}
	if digest != from.DigestStr() {
		return fmt.Errorf("push to %s: digest changed from %s to %s", repo, from.DigestStr(), digest)
	}
	return nil
}

// pushHint says what to do about a failed push.
func pushHint(err error) string {
	switch {
	case errors.Is(err, image.ErrUnauthorized):
		return "; check the credentials and that they may push to this repository (`zeitwork registry set`)"
	case errors.Is(err, image.ErrForbiddenAddress):
		return "; use a registry on a public address"
	}
	return ""
}
