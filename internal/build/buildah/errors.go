package buildah

import (
	"context"
	"fmt"
	"strings"

	"github.com/zeitwork/zeitwork/internal/build"
)

// userPatterns are in buildah's error line when the tenant's input is at
// fault: the Dockerfile, a RUN step, or a base image it names.
var userPatterns = []string{
	"building at step",          // a failing RUN (or COPY of a missing file)
	"parsing",                   // Dockerfile syntax
	"unknown instruction",       // Dockerfile syntax
	"dockerfile parse error",    // Dockerfile syntax
	"no such file or directory", // COPY of a missing path
	"creating build container",  // base image missing or unreachable
	"manifest unknown",
	"repository name not known",
	"reading manifest",
	"initializing source",
	"requested access to the resource is denied",
	"no stage", // --target names no stage
	"is not a valid target",
	"target stage",
}

// platformPatterns win over userPatterns: the sandbox failed, not the
// tenant's step.
var platformPatterns = []string{"runc create failed", "creating container for"}

// budErr turns a failed `buildah bud` into the build's error: the time
// limit or cancellation, a user error with buildah's reason and the log
// tail, or a platform error.
func (j *job) budErr(ctx context.Context, err error, tail []string) error {
	if ctx.Err() != nil {
		return limitErr(ctx, j.req.Log)
	}
	reason := lastLine(tail)
	if hosts := j.pull.deniedHosts(); len(hosts) > 0 {
		return fmt.Errorf("%w: the build tried to fetch from %s, a private, loopback or link-local address, which builds may not reach: "+
			"take base images from a public registry, the built-in registry or the configured mirror (%s)\n%s",
			build.ErrUser, strings.Join(hosts, ", "), reason, strings.Join(tail, "\n"))
	}
	if isUser(reason) {
		if all := strings.Join(tail, "\n"); strings.Contains(all, "exit status 137") || strings.Contains(all, "exited on killed") {
			reason = fmt.Sprintf("a RUN step was killed, most likely at the build's memory limit of %d MiB: %s",
				j.b.cfg.Limits.MemoryBytes>>20, reason)
		}
		return fmt.Errorf("%w: %s\n%s", build.ErrUser, reason, strings.Join(tail, "\n"))
	}
	return fmt.Errorf("build: buildah: %w: %s", err, reason)
}

func isUser(reason string) bool {
	r := strings.ToLower(reason)
	for _, p := range platformPatterns {
		if strings.Contains(r, p) {
			return false
		}
	}
	for _, p := range userPatterns {
		if strings.Contains(r, p) {
			return true
		}
	}
	return false
}

// lastLine is buildah's error: the last line that starts with "Error:",
// else the last line.
func lastLine(tail []string) string {
	for i := len(tail) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(tail[i], "Error: "); ok {
			// buildah appends its parser's internal state to some errors.
			s, _, _ = strings.Cut(s, " &imagebuilder.")
			return s
		}
	}
	if len(tail) == 0 {
		return "no output"
	}
	return tail[len(tail)-1]
}
