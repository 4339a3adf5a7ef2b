package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Progress reports bytes pushed so far out of the total.
type Progress struct {
	Complete, Total int64
}

// Push copies the image src names (an OCI layout, an archive or another
// registry reference, as Resolve takes) to dst and returns the digest it was
// pushed as. progress, when set, is called as bytes go out.
func Push(ctx context.Context, src string, dst name.Reference, auth authn.Authenticator, progress func(Progress), opts ...Option) (string, error) {
	img, err := Resolve(ctx, src, opts...)
	if err != nil {
		return "", err
	}
	return PushImage(ctx, img, dst, auth, progress, opts...)
}

// PushImage writes img to dst and returns its digest.
func PushImage(ctx context.Context, img v1.Image, dst name.Reference, auth authn.Authenticator, progress func(Progress), opts ...Option) (string, error) {
	o := newOptions(append(opts, WithAuth(auth)))
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuth(o.auth)}
	if o.transport != nil {
		ro = append(ro, remote.WithTransport(o.transport))
	}
	done := make(chan struct{})
	if progress != nil {
		updates := make(chan v1.Update, 16)
		ro = append(ro, remote.WithProgress(updates))
		go func() {
			defer close(done)
			for u := range updates {
				progress(Progress{Complete: u.Complete, Total: u.Total})
			}
		}()
	} else {
		close(done)
	}
	if err := remote.Write(dst, img, ro...); err != nil {
		// Not waiting for done: remote.Write leaves the channel open when
		// it fails before starting.
		return "", remoteError("push", dst.String(), err)
	}
	<-done // all progress delivered before we return
	h, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push image %s: %w", dst, err)
	}
	return h.String(), nil
}
