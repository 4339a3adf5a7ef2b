package buildah

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/build"
)

// TestCheckRequestFindsContainerfile: a context with a Containerfile and
// no Dockerfile builds from it when the request names none or the
// default, and the build log says so; a Dockerfile wins over it; a path
// the project named does not fall back; with neither the error names both.
func TestCheckRequestFindsContainerfile(t *testing.T) {
	for _, tc := range []struct {
		name, dockerfile string
		files            []string
		want             string // file chosen, or a part of the error
		wantLog          bool
	}{
		{"containerfile only", "", []string{"Containerfile"}, "Containerfile", true},
		{"default name, containerfile only", "Dockerfile", []string{"Containerfile"}, "Containerfile", true},
		{"both", "", []string{"Dockerfile", "Containerfile"}, "Dockerfile", false},
		{"containerfile named", "Containerfile", []string{"Containerfile"}, "Containerfile", false},
		{"named path missing", "docker/Dockerfile", []string{"Containerfile"}, "no Dockerfile at docker/Dockerfile", false},
		{"neither", "", []string{"app.txt"}, "no Dockerfile (or Containerfile)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for _, f := range tc.files {
				files[f] = "FROM scratch\n"
			}
			var log strings.Builder
			req := build.Request{ID: "b1", Project: "p1", Push: "r/p:1", ContextDir: writeContext(t, files), Dockerfile: tc.dockerfile, Log: &log}
			got, err := checkRequest(&req)
			if strings.HasPrefix(tc.want, "no ") {
				if !errors.Is(err, build.ErrUser) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v; want build.ErrUser with %q", err, tc.want)
				}
				return
			}
			if err != nil || got != filepath.Join(req.ContextDir, tc.want) {
				t.Fatalf("checkRequest = %q, %v; want %s", got, err, tc.want)
			}
			if said := strings.Contains(log.String(), "building from its Containerfile"); said != tc.wantLog {
				t.Errorf("build log %q; want the Containerfile named: %v", log.String(), tc.wantLog)
			}
		})
	}
}
