package image

import (
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageConfig is the part of an image's configuration the node agent and the
// guest init need to run the app.
type ImageConfig struct {
	Entrypoint   []string `json:"entrypoint,omitempty"`
	Cmd          []string `json:"cmd,omitempty"`
	Env          []string `json:"env,omitempty"`
	WorkingDir   string   `json:"workingDir,omitempty"`
	User         string   `json:"user,omitempty"`
	ExposedPorts []string `json:"exposedPorts,omitempty"` // "8080/tcp", sorted
	StopSignal   string   `json:"stopSignal,omitempty"`
}

// Argv is the command the image runs: Entrypoint followed by Cmd.
func (c ImageConfig) Argv() []string {
	argv := append([]string{}, c.Entrypoint...)
	return append(argv, c.Cmd...)
}

// ConfigOf reads the run configuration of img.
func ConfigOf(img v1.Image) (ImageConfig, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return ImageConfig{}, fmt.Errorf("read image config: %w", err)
	}
	return configFromFile(cf), nil
}

func configFromFile(cf *v1.ConfigFile) ImageConfig {
	c := cf.Config
	out := ImageConfig{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		User:       c.User,
		StopSignal: c.StopSignal,
	}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	sort.Strings(out.ExposedPorts)
	return out
}

// apply writes c into a v1.Config, for images built by FromFiles.
func (c ImageConfig) apply(dst *v1.Config) {
	dst.Entrypoint = c.Entrypoint
	dst.Cmd = c.Cmd
	dst.Env = c.Env
	dst.WorkingDir = c.WorkingDir
	dst.User = c.User
	dst.StopSignal = c.StopSignal
	if len(c.ExposedPorts) > 0 {
		dst.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			dst.ExposedPorts[p] = struct{}{}
		}
	}
}
