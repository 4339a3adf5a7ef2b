// Command deploy benchmarks a deploy on this machine: from `zeitwork deploy
// --image` to every instance healthy, with the per-stage breakdown the node
// agents report, the first response through the edge, and the memory of an
// idle instance. It starts the whole platform in-process (root needed),
// like `zeitwork up`, and writes a markdown report.
//
//	go run ./bench/deploy -out bench/results/deploy-DATE.md -runs 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

func main() {
	out := flag.String("out", "", "markdown report (default stdout)")
	runs := flag.Int("runs", 3, "deploys per scenario")
	flag.Parse()
	if err := run(*out, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench deploy:", err)
		os.Exit(1)
	}
}

// sample is one deploy's measurements, in milliseconds.
type sample struct {
	total      float64            // deploy request to ready
	firstEdge  float64            // ready to first 200 through the edge
	stages     map[string]float64 // median over instances of each stage
	rss, guest []float64          // per instance, MiB
}

func run(outPath string, runs int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "zeitwork-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := platform.Start(ctx, platform.Config{
		StateDir: dir, APIListen: "127.0.0.1:0", EdgeListen: "127.0.0.1:0",
		NetName: "zwbench", Subnet: netip.MustParsePrefix("10.251.0.0/24"), Transit: netip.MustParsePrefix("10.252.0.0/30"),
		Resync: time.Second, Heartbeat: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer p.Shutdown(context.Background())
	login := cli.Config{APIURL: p.APIURL, Token: p.Token}
	layout := filepath.Join(dir, "sample")
	if _, err := examples.BuildSampleImage(ctx, "", layout, examples.SampleConfig); err != nil {
		return err
	}
	report := &strings.Builder{}
	fmt.Fprintf(report, "Machine: %s, %d cores; accelerator: **%s**; guest RAM 256 MiB, 1 vCPU; kernel %s.\n\n",
		cpuModel(), numCPU(), strings.ToUpper(p.Driver.Accel()), p.Kernel.Version)
	for _, sc := range []struct {
		name      string
		instances int
	}{{"one instance", 1}, {"three instances", 3}} {
		project := fmt.Sprintf("bench%d", sc.instances)
		if err := cli.CreateProject(ctx, login, api.CreateProjectRequest{Name: project, MinInstancesPerRegion: sc.instances}); err != nil {
			return err
		}
		var samples []sample
		for i := 0; i < runs; i++ {
			s, err := deployOnce(ctx, p, login, project, layout)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s run %d: ready in %.0f ms\n", sc.name, i+1, s.total)
			samples = append(samples, s)
		}
		writeScenario(report, sc.name, samples)
	}
	if outPath == "" {
		fmt.Print(report.String())
		return nil
	}
	return os.WriteFile(outPath, []byte(report.String()), 0o644)
}

func deployOnce(ctx context.Context, p *platform.Platform, login cli.Config, project, layout string) (sample, error) {
	start := time.Now()
	d, err := cli.Deploy(ctx, login, io.Discard, project, layout)
	if err != nil {
		return sample{}, err
	}
	s := sample{total: ms(time.Since(start)), stages: map[string]float64{}}
	host := project + ".localhost"
	for {
		req, _ := http.NewRequest("GET", p.EdgeURL+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 5*time.Minute {
			return s, fmt.Errorf("edge never answered for %s", host)
		}
	}
	s.firstEdge = ms(time.Since(start)) - s.total

	var full api.Deployment
	if err := getJSON(login, "/v1/deployments/"+d.ID, &full); err != nil {
		return s, err
	}
	perStage := map[string][]float64{}
	for _, in := range full.Instances {
		if in.State != api.InstanceHealthy {
			continue
		}
		for k, v := range in.BootTimings {
			perStage[k] = append(perStage[k], v)
		}
		if rss, guest, err := memory(p, in.ID); err == nil {
			s.rss = append(s.rss, rss)
			s.guest = append(s.guest, guest)
		}
	}
	for k, v := range perStage {
		s.stages[k] = median(v)
	}
	return s, nil
}

func getJSON(login cli.Config, path string, out any) error {
	req, _ := http.NewRequest("GET", login.APIURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+login.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return jsonDecode(resp.Body, out)
}

// memory reads an instance's QEMU resident set and, from smaps, how much
// of it is guest RAM (the one anonymous mapping of the guest's size): the
// rest is the VMM's own overhead.
func memory(p *platform.Platform, instance string) (rssMiB, guestMiB float64, err error) {
	pidB, err := os.ReadFile(filepath.Join(p.StateDir(), "vms", instance, "pid"))
	if err != nil {
		return 0, 0, err
	}
	pid := strings.TrimSpace(string(pidB))
	smaps, err := os.ReadFile("/proc/" + pid + "/smaps")
	if err != nil {
		return 0, 0, err
	}
	var total, guest float64
	var size float64
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Size:":
			size = v
		case "Rss:":
			total += v
			if size == 256*1024 {
				guest += v
			}
		}
	}
	return total / 1024, guest / 1024, nil
}

func writeScenario(w io.Writer, name string, samples []sample) {
	col := func(f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s))
		}
		return median(v)
	}
	fmt.Fprintf(w, "### Deploy, %s (median of %d deploys)\n\n| stage | ms |\n|---|---:|\n", name, len(samples))
	rows := []struct{ label, key string }{
		{"image resolve (registry manifest + config)", "image_resolve"},
		{"image pull and unpack (cache miss on first deploy only)", "image_unpack"},
		{"root disk build, mkfs.ext4 -d (cached by digest)", "rootfs_build"},
		{"per-VM disk copy", "disk_copy"},
		{"VM start to guest /init", "vm_to_init"},
		{"/init to app listening", "init_to_listening"},
		{"VM start to healthy (host TCP check)", "vm_to_healthy"},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.0f |\n", r.label, col(func(s sample) float64 { return s.stages[r.key] }))
	}
	fmt.Fprintf(w, "| **deploy request to all instances healthy** | **%.0f** |\n", col(func(s sample) float64 { return s.total }))
	fmt.Fprintf(w, "| ready to first response through the edge | %.0f |\n\n", col(func(s sample) float64 { return s.firstEdge }))
	var rss, guest []float64
	for _, s := range samples {
		rss = append(rss, s.rss...)
		guest = append(guest, s.guest...)
	}
	if len(rss) > 0 {
		fmt.Fprintf(w, "Idle instance memory: QEMU RSS %.0f MiB, of which guest RAM touched %.0f MiB; VMM overhead beyond guest RAM %.0f MiB (medians over %d instances).\n\n",
			median(rss), median(guest), median(rss)-median(guest), len(rss))
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
