// Command build benchmarks "source to live" on this machine: from `git
// push` to the project's remote (or, with -source upload, the upload of a
// build context) to the project URL answering the new version
// through the edge, cold (a project's first build, empty layer cache) and
// warm (a change that leaves the dependency steps cached), with the
// breakdown by stage. It starts the whole platform in-process with the
// sandboxed buildah builder (root needed), like `zeitwork up`, and writes a
// markdown report.
//
//	go run ./bench/build -out bench/results/build-DATE.md -runs 3 [-source git|upload]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/build/buildah"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

func main() {
	out := flag.String("out", "", "markdown report (default stdout)")
	runs := flag.Int("runs", 3, "cold and warm runs per variant")
	source := flag.String("source", sourceGit, "send each version with `git push` (git) or as an uploaded context (upload)")
	flag.Parse()
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench build: -runs must be at least 1")
		os.Exit(2)
	}
	if *source != sourceGit && *source != sourceUpload {
		fmt.Fprintln(os.Stderr, "bench build: -source is git or upload")
		os.Exit(2)
	}
	if err := run(*out, *runs, *source); err != nil {
		fmt.Fprintln(os.Stderr, "bench build:", err)
		os.Exit(1)
	}
}

func run(outPath string, runs int, source string) error {
	// Interrupted, the benchmark still shuts the platform down: its VMs,
	// namespaces and nftables tables go with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "zeitwork-bench-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := platform.Start(ctx, platform.Config{
		StateDir: dir, APIListen: "127.0.0.1:0", EdgeListen: "127.0.0.1:0",
		NetName: "zwbbld", Subnet: netip.MustParsePrefix("10.249.0.0/24"), Transit: netip.MustParsePrefix("10.250.0.0/30"),
		Resync: time.Second, Heartbeat: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Build: &buildah.Config{
			Name: "bench", Subnet: netip.MustParsePrefix("10.254.0.0/24"), CgroupParent: "/zeitwork-bench-builds",
		},
	})
	if err != nil {
		return err
	}
	defer p.Shutdown(context.Background())
	b := &bench{p: p, login: cli.Config{APIURL: p.APIURL, Token: p.Token}, dir: dir, source: source}
	// The sample app's binary is compiled once; its build context copies it.
	b.sampleBin = filepath.Join(dir, "hello-context")
	if err := examples.WriteSampleContext(ctx, "", b.sampleBin); err != nil {
		return err
	}

	report := &strings.Builder{}
	fmt.Fprintf(report, "Machine: %s, %d cores; accelerator: **%s**; guest RAM 256 MiB, 1 vCPU; kernel %s; "+
		"builder: sandboxed rootless buildah (%s); one instance per project.\n\n",
		cpuModel(), runtime.NumCPU(), strings.ToUpper(p.Driver().Accel()), p.Kernel().Version, buildahVersion())
	var rows []targetRow
	for _, v := range variants {
		cold, warm, err := b.variant(ctx, v, runs)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		rows = append(rows, writeVariant(report, v, source, cold, warm))
	}
	writeTargets(report, rows)
	if outPath == "" {
		fmt.Print(report.String())
		return nil
	}
	return os.WriteFile(outPath, []byte(report.String()), 0o644)
}

// variant measures runs cold builds, each of a new project, then runs warm
// builds of the last of them, each a new version.
func (b *bench) variant(ctx context.Context, v variant, runs int) (cold, warm []sample, err error) {
	var project string
	for i := 1; i <= runs; i++ {
		project = fmt.Sprintf("%s-%d", v.name, i)
		if err := cli.CreateProject(ctx, b.login, api.CreateProjectRequest{Name: project, MinInstancesPerRegion: 1}); err != nil {
			return nil, nil, err
		}
		base := ""
		if v.needsBase {
			if base, err = b.pushBusyboxBase(ctx, project); err != nil {
				return nil, nil, err
			}
		}
		s, err := b.once(ctx, v, project, base, "v1")
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "%s cold %d: live in %.0f ms (build stage %.0f ms)\n", v.name, i, s.total, s.build)
		cold = append(cold, s)
		// Only the last cold project takes the warm builds: stop the
		// others' VMs, so that they do not load the machine.
		if i < runs {
			if err := b.do(ctx, "DELETE", "/v1/deployments/"+s.deployment, nil, nil); err != nil {
				return nil, nil, err
			}
		}
	}
	base := ""
	if v.needsBase {
		base = b.baseRef(project)
	}
	for i := 1; i <= runs; i++ {
		s, err := b.once(ctx, v, project, base, fmt.Sprintf("v%d", i+1))
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "%s warm %d: live in %.0f ms (build stage %.0f ms, %d cached steps)\n", v.name, i, s.total, s.build, s.cached)
		warm = append(warm, s)
	}
	return cold, warm, nil
}

func buildahVersion() string {
	out, err := execOutput("buildah", "--version")
	if err != nil {
		return "buildah"
	}
	return strings.TrimSpace(out)
}
