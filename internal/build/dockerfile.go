package build

import "fmt"

// The build file names a context is searched for when the project names
// none: Docker's, then podman's and buildah's own default.
const (
	DefaultDockerfile = "Dockerfile"
	Containerfile     = "Containerfile"
)

// ChooseDockerfile picks the build file of a context: name when it is a
// file there, or, when name is the default (empty or "Dockerfile", the
// project's default) and the context has no Dockerfile, its Containerfile,
// as podman and buildah do. isFile reports whether a path relative to the
// context is a regular file. ok is false when there is neither; name then
// holds what the build would have used.
func ChooseDockerfile(name string, isFile func(string) bool) (chosen string, ok bool) {
	if name == "" {
		name = DefaultDockerfile
	}
	if isFile(name) {
		return name, true
	}
	if name == DefaultDockerfile && isFile(Containerfile) {
		return Containerfile, true
	}
	return name, false
}

// MissingDockerfile says which build file a context lacks: both default
// names when the project named none, else the one it named.
func MissingDockerfile(name string) string {
	if name == "" || name == DefaultDockerfile {
		return "no Dockerfile (or Containerfile) at the root of the build context"
	}
	return fmt.Sprintf("no Dockerfile at %s in the build context", name)
}
