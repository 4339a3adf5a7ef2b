package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors callers can test with errors.Is to map a failure to its kind.
var (
	ErrNotFound     = errors.New("image not found")
	ErrUnauthorized = errors.New("not authorized")
	ErrInvalidRef   = errors.New("invalid image reference")
)

// Option configures Resolve (and the Store's resolution).
type Option func(*options)

type options struct {
	auth       authn.Authenticator
	keychain   authn.Keychain
	insecure   bool
	remoteOnly bool
	platform   v1.Platform
	transport  http.RoundTripper
}

func newOptions(opts []Option) options {
	o := options{
		auth:     authn.Anonymous,
		platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithAuth sets the credentials sent to a registry.
func WithAuth(a authn.Authenticator) Option {
	return func(o *options) {
		if a != nil {
			o.auth = a
		}
	}
}

// WithKeychain picks credentials per registry; it takes precedence over
// WithAuth.
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithInsecure allows plain HTTP to any registry. Loopback and private
// (RFC 1918) registries use plain HTTP without it, as go-containerregistry does.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithRemoteOnly treats every reference as a registry reference, even when a
// file of that name exists in the working directory. Node agents use it:
// they only ever pull from registries.
func WithRemoteOnly() Option { return func(o *options) { o.remoteOnly = true } }

// WithPlatform picks the image of this platform from a multi-platform index.
// The default is linux on the host's architecture.
func WithPlatform(p v1.Platform) Option { return func(o *options) { o.platform = p } }

// WithTransport sets the HTTP transport used to reach registries.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// Resolve finds the image ref names. ref is a registry reference
// ("127.0.0.1:5000/app:v1", "host/app@sha256:..."), an OCI image layout
// directory optionally followed by ":tag" or "@sha256:...", or a tar archive
// (docker save format or an OCI layout archive), likewise.
//
// A path is recognised when it exists on disk or starts with ".", "/" or "~";
// anything else is a registry reference.
func Resolve(ctx context.Context, ref string, opts ...Option) (v1.Image, error) {
	o := newOptions(opts)
	if path, sel, ok := localRef(ref); ok && !o.remoteOnly {
		return resolveLocal(path, sel, o.platform)
	}
	return resolveRemote(ctx, ref, o)
}

// IsLocal reports whether Resolve would treat ref as a local path.
func IsLocal(ref string) bool {
	_, _, ok := localRef(ref)
	return ok
}

func remoteOptions(ctx context.Context, o options) []remote.Option {
	ro := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(o.platform)}
	if o.keychain != nil {
		ro = append(ro, remote.WithAuthFromKeychain(o.keychain))
	} else {
		ro = append(ro, remote.WithAuth(o.auth))
	}
	if o.transport != nil {
		ro = append(ro, remote.WithTransport(o.transport))
	}
	return ro
}

func parseRef(ref string, o options) (name.Reference, error) {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidRef, ref, err)
	}
	return r, nil
}

func resolveRemote(ctx context.Context, ref string, o options) (v1.Image, error) {
	r, err := parseRef(ref, o)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, remoteOptions(ctx, o)...)
	if err != nil {
		return nil, remoteError("pull", ref, err)
	}
	return img, nil
}

// remoteError turns a registry failure into an error that says what was
// wrong in words a user understands, keeping the kind for errors.Is.
func remoteError(op, ref string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fmt.Errorf("%w: image %s not found in registry", ErrNotFound, ref)
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %s image %s: registry refused the credentials (%d)", ErrUnauthorized, op, ref, terr.StatusCode)
		}
	}
	return fmt.Errorf("%s image %s: %w", op, ref, err)
}

func hasCode(terr *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// selector picks one image out of a layout or archive holding several.
type selector struct {
	tag    string
	digest string
}

func (s selector) String() string {
	switch {
	case s.digest != "":
		return "@" + s.digest
	case s.tag != "":
		return ":" + s.tag
	}
	return ""
}

// localRef splits a local reference into its path and selector.
func localRef(ref string) (string, selector, bool) {
	if ref == "" {
		return "", selector{}, false
	}
	if _, err := os.Stat(ref); err == nil {
		return ref, selector{}, true
	}
	path, sel := ref, selector{}
	if i := strings.LastIndex(ref, "@"); i > 0 {
		path, sel.digest = ref[:i], ref[i+1:]
	} else if i := strings.LastIndex(ref, ":"); i > 0 && !strings.Contains(ref[i:], "/") {
		path, sel.tag = ref[:i], ref[i+1:]
	}
	if _, err := os.Stat(path); err == nil {
		return path, sel, true
	}
	looksLikePath := strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "~")
	return path, sel, looksLikePath
}
