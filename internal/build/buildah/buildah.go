// Package buildah is a build.Builder that runs Debian's buildah (1.28) as
// root on the host, with every RUN step of the tenant's Dockerfile in a
// sandbox.
//
// buildah itself (parsing the Dockerfile, pulling base images, committing
// layers, pushing) runs as root with the push credentials; it is the
// platform's code, but what it fetches the tenant names, so `buildah bud`
// runs in a network namespace whose only ways out are the builder's proxy
// (public addresses and the operator's registries) and forwarders to the
// operator's registries on loopback (pullnet.go). The tenant's code is
// only what RUN steps execute, and each RUN step is an OCI container
// (runc) with:
//   - a user namespace mapping its uids 0-65535 to an unprivileged host
//     range of the build's own (Config.UIDBase), so root in a RUN step is
//     nobody on the host;
//   - its own mount and PID namespaces (runc's), seeing only the image's
//     files, never the host's, the build context or the credentials;
//   - a network namespace of the build's own, whose only way out is a veth
//     to the host filtered by nftables: the internet and the configured DNS
//     servers only, never the host itself, private, link-local or reserved
//     ranges (the VMs' deny list, network.DeniedPrefixes);
//   - a cgroup below the build's cgroup, which caps memory, CPU and
//     processes for all RUN steps of the build together.
//
// The layer cache is one containers/storage root per project under
// Config.StateDir, so builds of one project reuse layers and builds of
// different projects never see each other's. Builds of one project run one
// at a time (they share the storage root; cleaning up after a killed build
// removes every container in it). A watchdog caps what a build adds to the
// disk, and the caches of all projects are pruned to a budget, least
// recently used first (disk.go).
//
// The rootless alternative (buildah run as the unprivileged user with
// /etc/subuid ranges) needs fuse-overlayfs or slirp4netns and runs pulls
// and pushes with the tenant's uid; root buildah with a mapped RUN user
// keeps the credentials and the registry traffic outside the sandbox.
package buildah

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zeitwork/zeitwork/internal/build"
	"github.com/zeitwork/zeitwork/internal/vmm/jail"
)

// Config configures a Builder. Zero fields take the defaults.
type Config struct {
	// StateDir holds one storage root (layer cache) per project; default
	// /var/lib/zeitwork/builds.
	StateDir string
	// Buildah is the buildah binary; default "buildah" from PATH.
	Buildah string
	// UIDBase is the first host uid (and gid) of the builds' ranges: the
	// i-th project to build maps its RUN steps' uids 0-65535 to
	// UIDBase+i*65536 on, for good (uidrange.go). Default
	// 1000000000, far from the VMs' (900000) and /etc/subuid's usual ranges.
	// No other user may have these ids.
	UIDBase int
	// Name tells this builder's namespaces, veths, nftables tables and
	// cgroups apart from another's on the same host (at most 6 characters;
	// default none): zwb<Name>-<slot>, zwh-b<Name><slot>,
	// zeitwork_build<Name><slot>.
	Name string
	// Slots is how many builds may run at once (each has its uid range,
	// network and cgroup); default 4.
	Slots int
	// Subnet holds one /30 per slot for the builds' networks; default
	// 10.223.0.0/24. Nothing else on the host may use it.
	Subnet netip.Prefix
	// DNS are the resolvers RUN steps use and may reach on port 53 (IPv4).
	// Empty: RUN steps get no resolv.conf and resolve nothing.
	DNS []string
	// Mirror, when set, is a registry host (host[:port]) tried first for
	// images from docker.io.
	Mirror string
	// PlainHTTP are registries (host:port) reached over plain HTTP: the
	// operator's own registry on loopback. All others need TLS.
	PlainHTTP []string
	// Limits cap all RUN steps of one build together; default 1 GiB,
	// 1 CPU, 512 processes.
	Limits jail.Limits
	// CgroupParent holds one cgroup per build; default "/zeitwork-builds".
	CgroupParent string
	// DiskBytes caps what one build may add to the disk (layers, the RUN
	// steps' files, pulled base images); default 10 GiB (disk.go).
	DiskBytes int64
	// CacheBytes is the budget of all projects' layer caches together:
	// after each build the least recently used projects' caches are
	// removed until the rest fit, never one a build is using; default
	// 40 GiB.
	CacheBytes int64
	// Log gets what the builder does outside any one build (pruning the
	// cache); default none.
	Log *slog.Logger
}

// Builder runs builds with buildah. It is safe for concurrent use.
type Builder struct {
	cfg     Config
	cgroups *jail.Cgroups
	slots   chan int

	mu sync.Mutex
	// projects holds a one-slot semaphore per project's storage root: its
	// builds share it and run one at a time, and the cache is pruned only
	// with it held.
	projects map[string]chan struct{}
	// pruneMu keeps two prunes of the cache apart.
	pruneMu sync.Mutex
}

// New checks cfg, fills in defaults and finds buildah.
func New(cfg Config) (*Builder, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = "/var/lib/zeitwork/builds"
	}
	if cfg.Buildah == "" {
		cfg.Buildah = "buildah"
	}
	path, err := exec.LookPath(cfg.Buildah)
	if err != nil {
		return nil, fmt.Errorf("buildah: %w (install it: apt-get install buildah runc)", err)
	}
	cfg.Buildah = path
	if len(cfg.Name) > 6 || strings.ContainsAny(cfg.Name, "/ \t\n") {
		return nil, fmt.Errorf("buildah: name %q must be at most 6 characters, without slashes or spaces", cfg.Name)
	}
	if cfg.UIDBase == 0 {
		cfg.UIDBase = 1000000000
	}
	if cfg.Slots == 0 {
		cfg.Slots = 4
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = netip.MustParsePrefix("10.223.0.0/24")
	}
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 || 1<<(30-cfg.Subnet.Bits()) < cfg.Slots {
		return nil, fmt.Errorf("buildah: subnet %s has no room for %d builds of a /30 each", cfg.Subnet, cfg.Slots)
	}
	if cfg.UIDBase <= 0 || cfg.UIDBase+cfg.Slots*idRange > 1<<32-2 {
		return nil, fmt.Errorf("buildah: uid range from %d for %d builds is out of bounds", cfg.UIDBase, cfg.Slots)
	}
	for _, s := range cfg.DNS {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return nil, fmt.Errorf("buildah: dns server %q must be an IPv4 address", s)
		}
	}
	if cfg.Limits == (jail.Limits{}) {
		cfg.Limits = jail.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 512}
	}
	if cfg.DiskBytes == 0 {
		cfg.DiskBytes = 10 << 30
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 40 << 30
	}
	if cfg.DiskBytes < 0 || cfg.CacheBytes < 0 {
		return nil, fmt.Errorf("buildah: disk limit %d and cache budget %d must not be negative", cfg.DiskBytes, cfg.CacheBytes)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "/zeitwork-builds"
	}
	if !filepath.IsAbs(cfg.CgroupParent) {
		return nil, fmt.Errorf("buildah: cgroup parent %q must be absolute (runc takes it from each hierarchy's root)", cfg.CgroupParent)
	}
	cg, err := jail.NewCgroups(cfg.CgroupParent)
	if err != nil {
		return nil, fmt.Errorf("buildah: %w", err)
	}
	b := &Builder{cfg: cfg, cgroups: cg, slots: make(chan int, cfg.Slots), projects: map[string]chan struct{}{}}
	for i := range cfg.Slots {
		b.slots <- i
	}
	return b, nil
}

// idRange is the number of uids (and gids) a RUN step's user namespace maps.
const idRange = 65536

// Build runs req: buildah bud in the sandbox, then buildah push; then
// it keeps the layer caches within their budget. See build.Builder.
func (b *Builder) Build(ctx context.Context, req build.Request) (build.Result, error) {
	res, err := b.build(ctx, req)
	b.pruneCache(func(msg string) { b.cfg.Log.Info(msg) })
	return res, err
}

func (b *Builder) build(ctx context.Context, req build.Request) (build.Result, error) {
	dockerfile, err := checkRequest(&req)
	if err != nil {
		return build.Result{}, err
	}
	store := b.storeDir(req.Project)
	lock := b.storeLock(store)
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return build.Result{}, limitErr(ctx, req.Log)
	}
	defer func() { <-lock }()
	var slot int
	select {
	case slot = <-b.slots:
	case <-ctx.Done():
		return build.Result{}, limitErr(ctx, req.Log)
	}
	defer func() { b.slots <- slot }()

	uidBase, err := b.projectRange(store)
	if err != nil {
		return build.Result{}, err
	}
	j := &job{b: b, req: req, slot: slot, uidBase: uidBase, dockerfile: dockerfile, store: store}
	defer j.cleanup()
	if err := j.prepare(ctx); err != nil {
		return build.Result{}, err
	}
	res := build.Result{Timings: map[string]int64{}}
	start := time.Now()
	imageID, err := j.bud(ctx)
	res.Timings["build"] = time.Since(start).Milliseconds()
	if err != nil {
		return res, err
	}
	req.EnterStage(build.StagePush)
	start = time.Now()
	res.Digest, err = j.push(ctx, imageID)
	res.Timings["push"] = time.Since(start).Milliseconds()
	return res, err
}

// checkRequest fills in the defaults of req and finds its Dockerfile,
// which must be a regular file inside the context: a Containerfile when
// the request names none and the context has no Dockerfile.
func checkRequest(req *build.Request) (string, error) {
	if req.Log == nil {
		return "", errors.New("build: request has no log")
	}
	if req.ID == "" || req.Project == "" || req.Push == "" || req.ContextDir == "" {
		return "", errors.New("build: request needs an id, a project, a context and a push reference")
	}
	if err := checkArgs(req.Args); err != nil {
		return "", err
	}
	if req.Dockerfile != "" && !filepath.IsLocal(req.Dockerfile) {
		return "", fmt.Errorf("%w: the Dockerfile path %q must be relative and inside the build context", build.ErrUser, req.Dockerfile)
	}
	isFile := func(name string) bool {
		st, err := os.Lstat(filepath.Join(req.ContextDir, name))
		return err == nil && st.Mode().IsRegular()
	}
	name, ok := build.ChooseDockerfile(req.Dockerfile, isFile)
	if !ok {
		return "", fmt.Errorf("%w: %s: add one or set the project's Dockerfile path", build.ErrUser, build.MissingDockerfile(req.Dockerfile))
	}
	if name == build.Containerfile && req.Dockerfile != build.Containerfile {
		fmt.Fprintf(req.Log, "zeitwork: no Dockerfile in the build context: building from its Containerfile\n")
	}
	return filepath.Join(req.ContextDir, name), nil
}

func (b *Builder) storeLock(store string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.projects[store]
	if !ok {
		c = make(chan struct{}, 1)
		b.projects[store] = c
	}
	return c
}

// storeDir is the project's storage root: its name is a hash, so that no
// project name can reach another's directory.
func (b *Builder) storeDir(project string) string {
	sum := sha256.Sum256([]byte(project))
	return filepath.Join(b.cfg.StateDir, "projects", hex.EncodeToString(sum[:12]))
}

// limitErr reports a build that ctx ended: over its time limit (the
// tenant's doing) or cancelled.
func limitErr(ctx context.Context, log io.Writer) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintln(log, "build stopped: time limit reached")
		return fmt.Errorf("%w: time limit reached, the build was stopped: %w", build.ErrUser, ctx.Err())
	}
	fmt.Fprintln(log, "build cancelled")
	return fmt.Errorf("build cancelled: %w", ctx.Err())
}

// hostOf returns the registry host of an image reference.
func hostOf(ref string) string {
	host, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return "docker.io"
	}
	return host
}

var _ build.Builder = (*Builder)(nil)
