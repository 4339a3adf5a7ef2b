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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	runs := flag.Int("runs", 4, "deploys per scenario (at least 2: the first is cold)")
	flag.Parse()
	if *runs < 2 {
		fmt.Fprintln(os.Stderr, "bench deploy: -runs must be at least 2")
		os.Exit(2)
	}
	if err := run(*out, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench deploy:", err)
		os.Exit(1)
	}
}

// sample is one deploy's measurements, in milliseconds.
type sample struct {
	total     float64            // deploy request to ready
	firstEdge float64            // ready to first 200 through the edge
	stages    map[string]float64 // median over instances of each stage
	mem       []memStats         // per instance
}

// memStats is one QEMU process's memory, MiB.
type memStats struct {
	rss, guest, anon, file float64
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
	report := &strings.Builder{}
	fmt.Fprintf(report, "Machine: %s, %d cores; accelerator: **%s**; guest RAM 256 MiB, 1 vCPU; kernel %s.\n\n",
		cpuModel(), runtime.NumCPU(), strings.ToUpper(p.Driver().Accel()), p.Kernel().Version)
	for _, sc := range []struct {
		name      string
		instances int
	}{{"one instance", 1}, {"three instances", 3}} {
		project := fmt.Sprintf("bench%d", sc.instances)
		// A distinct image per scenario, so that its first deploy is cold.
		cfg := examples.SampleConfig
		cfg.Env = append(append([]string{}, cfg.Env...), "BENCH_SCENARIO="+project)
		layout := filepath.Join(dir, project)
		if _, err := examples.BuildSampleImage(ctx, "", layout, cfg); err != nil {
			return err
		}
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
		if m, err := memory(p, in.ID); err == nil {
			s.mem = append(s.mem, m)
		}
	}
	// A deploy is as fast as its slowest instance, so each stage reports
	// its slowest instance.
	for k, v := range perStage {
		s.stages[k] = slices.Max(v)
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
	return json.NewDecoder(resp.Body).Decode(out)
}

// memory reads an instance's QEMU memory from smaps: guest RAM is the one
// mapping of the guest's size; of the rest, anonymous memory is QEMU's own
// (TCG translation cache, device state) and file-backed pages (the mapped
// vmlinux, QEMU's binary and libraries) are page cache shared between VMs.
func memory(p *platform.Platform, instance string) (memStats, error) {
	var m memStats
	pidB, err := os.ReadFile(filepath.Join(p.StateDir(), "vms", instance, "pid"))
	if err != nil {
		return m, err
	}
	smaps, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pidB)) + "/smaps")
	if err != nil {
		return m, err
	}
	var size, rss float64
	isGuest := false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Size:":
			size = v
			isGuest = size == 256*1024
		case "Rss:":
			rss = v
			m.rss += v / 1024
			if isGuest {
				m.guest += v / 1024
			}
		case "Anonymous:":
			if !isGuest {
				m.anon += v / 1024
				m.file += (rss - v) / 1024
			}
		}
	}
	return m, nil
}

func writeScenario(w io.Writer, name string, samples []sample) {
	// The first deploy of a scenario has a cold image cache; the others
	// hit it, so they are reported apart.
	cold, warm := samples[0], samples[1:]
	col := func(f func(sample) (float64, bool)) string {
		var v []float64
		for _, s := range warm {
			if x, ok := f(s); ok {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", median(v))
	}
	one := func(s sample, f func(sample) (float64, bool)) string {
		if x, ok := f(s); ok {
			return fmt.Sprintf("%.0f", x)
		}
		return "-"
	}
	fmt.Fprintf(w, "### Deploy, %s\n\nEach stage is its slowest instance's time.\n\n| stage (ms) | first deploy, cold image cache | later deploys, median of %d |\n|---|---:|---:|\n", name, len(warm))
	rows := []struct{ label, key string }{
		{"image resolve (manifest + config)", "image_resolve"},
		{"image pull and unpack", "image_unpack"},
		{"root disk build (mkfs.ext4 -d; cached by digest)", "rootfs_build"},
		{"per-VM disk copy", "disk_copy"},
		{"VM start to guest /init", "vm_to_init"},
		{"/init to app listening (guest clock)", "init_to_listening"},
		{"VM start to healthy (host TCP check)", "vm_to_healthy"},
	}
	for _, r := range rows {
		f := func(s sample) (float64, bool) { v, ok := s.stages[r.key]; return v, ok }
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.label, one(cold, f), col(f))
	}
	total := func(s sample) (float64, bool) { return s.total, true }
	edge := func(s sample) (float64, bool) { return s.firstEdge, true }
	fmt.Fprintf(w, "| **deploy request to all instances healthy** | **%s** | **%s** |\n", one(cold, total), col(total))
	fmt.Fprintf(w, "| ready to first response through the edge | %s | %s |\n\n", one(cold, edge), col(edge))
	var rss, guest, anon, file []float64
	for _, s := range samples {
		for _, m := range s.mem {
			rss, guest, anon, file = append(rss, m.rss), append(guest, m.guest), append(anon, m.anon), append(file, m.file)
		}
	}
	if len(rss) > 0 {
		fmt.Fprintf(w, "Idle instance memory (medians over %d instances, MiB): QEMU resident set **%.0f**; guest RAM touched %.0f; "+
			"overhead beyond guest RAM %.0f, of which QEMU's own anonymous memory (TCG translation cache, devices) %.0f and "+
			"file-backed pages shared between VMs (mapped vmlinux, QEMU binary) %.0f.\n\n",
			len(rss), median(rss), median(guest), median(rss)-median(guest), median(anon), median(file))
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
