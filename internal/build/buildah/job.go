package buildah

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/build"
)

// job is one build in progress: its slot's sandbox and its temporary
// directory, removed by cleanup whatever happened.
type job struct {
	b    *Builder
	req  build.Request
	slot int
	// uidBase is the first host uid of the project's range (uidrange.go).
	uidBase    int
	dockerfile string
	store      string // the project's storage root

	tmp     string // auth file, registries.conf, TMPDIR, the empty /sys
	cgroup  string // the build's cgroup name
	net     *sandboxNet
	pull    *pullNet
	started bool // buildah ran: containers may be left in the store
	// baseLayers are the store's layer directories before bud, baseTmp
	// the size of the temporary directories (disk.go).
	baseLayers map[string]bool
	baseTmp    int64
}

// prepare makes the temporary directory, the files buildah reads and the
// sandbox (cgroup and network).
func (j *job) prepare(ctx context.Context) error {
	var err error
	if j.tmp, err = os.MkdirTemp("", "zeitwork-build-*"); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// runc, already in a RUN step's user namespace, mounts the step's root
	// (under TMPDIR) and the empty /sys: the mapped uids must be able to
	// traverse to them, though not list or read anything else here.
	if err := os.Chmod(j.tmp, 0o711); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	for _, d := range []string{"tmp", "sys", "sys/fs", "sys/fs/cgroup"} {
		if err := os.Mkdir(filepath.Join(j.tmp, d), 0o711); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if err := os.MkdirAll(j.store, 0o700); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	touch(j.store)
	if err := j.writeAuth(); err != nil {
		return err
	}
	if err := os.WriteFile(j.path("registries.conf"), []byte(registriesConf(j.b.cfg.Mirror, j.b.cfg.PlainHTTP)), 0o600); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	j.cgroup = "zeitwork-build-" + j.b.cfg.Name + strconv.Itoa(j.slot)
	if _, err := j.b.cgroups.Create(j.cgroup, j.b.cfg.Limits); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	j.net = newSandboxNet(j.b.cfg, j.slot)
	if err := j.net.setup(ctx); err != nil {
		return fmt.Errorf("build: sandbox network: %w", err)
	}
	registries := j.registries()
	var loopback []string
	for _, r := range registries {
		if loopbackRegistry(r) {
			loopback = append(loopback, r)
		}
	}
	j.pull = newPullNet(j.b.cfg, j.slot, registries)
	if err := j.pull.setup(ctx, loopback); err != nil {
		return fmt.Errorf("build: pull network: %w", err)
	}
	return nil
}

// registries are the operator's registries, which bud may reach even on
// private or loopback addresses: the plain-HTTP ones (the built-in
// registry), the mirror and the push registry.
func (j *job) registries() []string {
	var out []string
	for _, r := range append([]string{j.b.cfg.Mirror, hostOf(j.req.Push)}, j.b.cfg.PlainHTTP...) {
		if r != "" && r != "docker.io" && !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (j *job) path(name string) string { return filepath.Join(j.tmp, name) }

// writeAuth writes the push credentials as a containers-auth.json that
// only buildah reads (0600, root's, outside every RUN step's mounts).
func (j *job) writeAuth() error {
	auths := map[string]any{}
	if j.req.PushUser != "" || j.req.PushPassword != "" {
		token := base64.StdEncoding.EncodeToString([]byte(j.req.PushUser + ":" + j.req.PushPassword))
		auths[hostOf(j.req.Push)] = map[string]string{"auth": token}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := os.WriteFile(j.path("auth.json"), b, 0o600); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// global are buildah's options before the subcommand: the project's
// storage root and the files of this build.
func (j *job) global() []string {
	return []string{
		"--root", filepath.Join(j.store, "storage"),
		"--runroot", filepath.Join(j.store, "run"),
		// Not overlay: on this kernel containers/storage mounts image
		// layers id-mapped, and buildah 1.28 then maps the ids of a RUN
		// step's files twice (COPY --from fails on uid 65534).
		// fuse-overlayfs mounts are closed to the mapped uids. vfs copies
		// each layer whole: slower for big images, but correct.
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--registries-conf", j.path("registries.conf"),
	}
}

// env is buildah's whole environment: nothing of the operator's.
func (j *job) env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TMPDIR=" + j.path("tmp"),
		"HOME=" + j.tmp,
		"REGISTRY_AUTH_FILE=" + j.path("auth.json"),
		"BUILDAH_ISOLATION=oci",
	}
}

// budArgs is `buildah bud` with the sandbox's options. RUN steps get:
// the build's user namespace range, its network namespace, a cgroup
// below the build's, an empty read-only /sys (runc cannot mount sysfs in a
// user namespace that does not own the network namespace), and no
// resolv.conf unless DNS servers are configured.
func (j *job) budArgs() []string {
	idmap := fmt.Sprintf("0:%d:%d", j.uidBase, idRange)
	mem := strconv.FormatInt(j.b.cfg.Limits.MemoryBytes, 10)
	args := append(j.global(), "bud",
		"--layers", "--force-rm", "--pull=missing",
		"--isolation", "oci", "--runtime", "runc", // crun fails on hybrid cgroups
		"--http-proxy=false", // the pull proxy is buildah's, not the RUN steps'
		"--userns-uid-map", idmap, "--userns-gid-map", idmap,
		"--network", "ns:"+j.net.nsPath(),
		"--cgroup-parent", filepath.Join(j.b.cfg.CgroupParent, j.cgroup, "run"),
		"--memory", mem, "--memory-swap", mem,
		"--volume", j.path("sys")+":/sys:ro",
		"--authfile", j.path("auth.json"),
		"--iidfile", j.path("iid"),
		"--file", j.dockerfile,
	)
	if len(j.b.cfg.DNS) > 0 {
		args = append(args, "--dns", strings.Join(j.b.cfg.DNS, ","))
	} else {
		args = append(args, "--dns", "none")
	}
	if j.req.Target != "" {
		args = append(args, "--target", j.req.Target)
	}
	args = append(args, argFlags(j.req.Args)...)
	return append(args, j.req.ContextDir)
}

// bud builds the image into the project's storage and returns its ID,
// with the disk watchdog stopping it past the build's disk limit.
func (j *job) bud(ctx context.Context) (string, error) {
	j.started = true
	j.baseLayers = layers(j.store)
	j.baseTmp = diskUse(filepath.Join(j.store, "storage", "tmp"), j.tmp)
	ctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() { j.watchDisk(ctx, cancel); close(watched) }()
	defer func() { cancel(nil); <-watched }()
	tail, err := j.run(ctx, j.budArgs(), argEnv(j.req.Args), j.pull)
	if err != nil {
		if errors.Is(context.Cause(ctx), errDiskLimit) {
			return "", j.diskErr()
		}
		return "", j.budErr(ctx, err, tail)
	}
	id, err := os.ReadFile(j.path("iid"))
	if err != nil {
		return "", fmt.Errorf("build: read image id: %w", err)
	}
	return strings.TrimSpace(string(id)), nil
}

// push pushes the image to req.Push and returns the manifest digest.
func (j *job) push(ctx context.Context, imageID string) (string, error) {
	args := append(j.global(), "push",
		"--authfile", j.path("auth.json"),
		"--digestfile", j.path("digest"),
		"--format", "oci",
	)
	if j.plainHTTP(hostOf(j.req.Push)) {
		args = append(args, "--tls-verify=false")
	}
	args = append(args, imageID, "docker://"+j.req.Push)
	fmt.Fprintf(j.req.Log, "pushing to %s\n", j.req.Push)
	tail, err := j.run(ctx, args, nil, nil)
	if err != nil {
		if ctx.Err() != nil {
			return "", limitErr(ctx, j.req.Log)
		}
		return "", fmt.Errorf("build: push to %s: %w: %s", j.req.Push, err, lastLine(tail))
	}
	d, err := os.ReadFile(j.path("digest"))
	if err != nil {
		return "", fmt.Errorf("build: read pushed digest: %w", err)
	}
	digest := strings.TrimSpace(string(d))
	if !strings.HasPrefix(digest, "sha256:") {
		return "", fmt.Errorf("build: push wrote digest %q", digest)
	}
	return digest, nil
}

func (j *job) plainHTTP(host string) bool {
	for _, h := range j.b.cfg.PlainHTTP {
		if h == host {
			return true
		}
	}
	return false
}
