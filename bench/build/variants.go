package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/image"
)

// variant is one app the benchmark builds. Every version answers
// differently at path, so that the edge shows when it is live.
type variant struct {
	name, title string
	needsBase   bool // a busybox base image in the project's repository
	// context writes the build context of version into dir.
	context func(b *bench, dir, base, version string) error
	path    string
	want    func(version string) string
}

var variants = []variant{
	{
		name:  "sample",
		title: "sample app (examples/hello: FROM scratch, COPY of the compiled binary)",
		// A new version adds an ENV step after the COPY of the binary,
		// which the warm build takes from the cache; the app prints it.
		context: func(b *bench, dir, _, version string) error {
			df, err := os.ReadFile(filepath.Join(b.sampleBin, "Dockerfile"))
			if err != nil {
				return err
			}
			df = append(df, "ENV BENCH_VERSION="+version+"\n"...)
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
				return err
			}
			return os.Link(filepath.Join(b.sampleBin, "hello"), filepath.Join(dir, "hello"))
		},
		path: "/env?k=BENCH_VERSION",
		want: func(v string) string { return "BENCH_VERSION=" + v + "\n" },
	},
	{
		name:      "runsteps",
		title:     "multi-stage Dockerfile with RUN steps from a busybox base, served by busybox httpd",
		needsBase: true,
		// The dependency stage does not depend on the context, so a new
		// version (a changed index.html) rebuilds only the last COPY.
		context: func(_ *bench, dir, base, version string) error {
			df := fmt.Sprintf(`FROM %[1]s AS deps
RUN mkdir -p /deps && echo "dependency installed" > /deps/lib.txt
RUN test -s /deps/lib.txt

FROM %[1]s
COPY --from=deps /deps /www/deps
COPY index.html /www/index.html
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
`, base)
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello "+version+"\n"), 0o644)
		},
		path: "/",
		want: func(v string) string { return "hello " + v + "\n" },
	},
}

// baseRef is where pushBusyboxBase puts project's base image.
func (b *bench) baseRef(project string) string {
	return strings.TrimPrefix(b.p.APIURL, "http://") + "/" + project + ":base"
}

// pushBusyboxBase pushes a base image made of Debian's static busybox into
// the project's repository of the built-in registry (the only registry
// here), as the end-to-end test does, and returns its reference.
func (b *bench) pushBusyboxBase(ctx context.Context, project string) (string, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("read /bin/busybox (apt-get install busybox-static): %w", err)
	}
	files := map[string]image.File{
		"bin/busybox": {Mode: 0o755, Data: bb},
		"tmp":         {Mode: fs.ModeDir | 0o1777},
	}
	for _, a := range []string{"sh", "echo", "mkdir", "test", "httpd"} {
		files["bin/"+a] = image.File{Mode: fs.ModeSymlink | 0o777, Link: "busybox"}
	}
	img, err := image.FromFiles(files, image.ImageConfig{Env: []string{"PATH=/bin"}})
	if err != nil {
		return "", err
	}
	ref := b.baseRef(project)
	dst, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	if _, err := image.PushImage(ctx, img, dst, &authn.Basic{Username: "user", Password: b.login.Token}, nil); err != nil {
		return "", fmt.Errorf("push base image: %w", err)
	}
	return ref, nil
}
