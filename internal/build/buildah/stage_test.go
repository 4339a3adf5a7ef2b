package buildah

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/zeitwork/zeitwork/internal/build"
)

// TestBuildReportsPushStage: the builder tells once when its push begins,
// before the image is in the registry, so that the operator shows the
// build as pushing for that time.
func TestBuildReportsPushStage(t *testing.T) {
	e := newEnv(t, testLimits)
	var mu sync.Mutex
	var stages []string
	var inRegistryAtPush error
	req := build.Request{ID: "stage1", Project: "stages",
		ContextDir: writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /out\n", "app.txt": "v1\n"}),
	}
	req.Push = e.registry + "/acme/stages:" + req.ID
	req.Stage = func(stage string) {
		ref, err := name.ParseReference(req.Push, name.Insecure)
		if err == nil {
			_, err = remote.Head(ref)
		}
		mu.Lock()
		defer mu.Unlock()
		stages = append(stages, stage)
		inRegistryAtPush = err
	}
	res, err, out := e.build(t, req, 2*time.Minute)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stages) != 1 || stages[0] != build.StagePush {
		t.Fatalf("stages reported: %q", stages)
	}
	if inRegistryAtPush == nil {
		t.Fatal("the push stage was reported after the image was pushed")
	}
	checkPushed(t, req.Push, res.Digest, "v1\n")
}
