// Command vm benchmarks Zeitwork's microVMs on this machine (issue 11):
// VM start to app listening, deploy to three healthy instances, the unique
// and shared memory and host CPU of an idle instance, how many idle
// instances fit, and, once their branches provide them, restore from a
// template and wake from zero (see capabilities.go). It starts the whole
// platform in-process (root needed), like `zeitwork up`, and writes a text
// report.
//
//	go run ./bench/vm -out bench/results/vm-DATE.txt -rounds 3 -fit 20
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/platform"
)

// options are the benchmark's flags.
type options struct {
	out        string
	rounds     int
	fit        int
	settle     time.Duration
	idleWindow time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "text report (default stdout)")
	flag.IntVar(&o.rounds, "rounds", 3, "deploy rounds of three instances (cold boot beside each capability, interleaved)")
	flag.IntVar(&o.fit, "fit", 20, "idle instances to boot at once to check the fit estimate (0: skip; at most 28)")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "wait after instances are healthy before measuring them idle")
	flag.DurationVar(&o.idleWindow, "idle-window", 60*time.Second, "window idle CPU is measured over")
	flag.Parse()
	if o.rounds < 1 || o.fit < 0 || o.fit > 28 {
		fmt.Fprintln(os.Stderr, "bench vm: -rounds must be at least 1 and -fit 0 to 28 (the machine is shared, and the single-node platform offers 32 vCPUs)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench vm:", err)
		os.Exit(1)
	}
}

// bench is one run: the platform and what the measurements share.
type bench struct {
	p      *platform.Platform
	login  cli.Config
	dir    string
	layout string // the sample app's image
	wake   string // the scale-to-zero deployment of the wake row, once made
	// tmpl is the platform with VM templates on, beside this one (cold
	// boots); see templates.go.
	tmpl *bench
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "zeitwork-bench-vm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := startPlatform(ctx, dir, "zwvmb", coldSubnet, coldTransit, false)
	if err != nil {
		return err
	}
	// Shutdown destroys every VM the run made, also after an error or ^C.
	defer p.Shutdown(context.Background())
	b := &bench{p: p, login: cli.Config{APIURL: p.APIURL, Token: p.Token}, dir: dir, layout: filepath.Join(dir, "hello")}
	if _, err := examples.BuildSampleImage(ctx, "", b.layout, examples.SampleConfig); err != nil {
		return err
	}
	if b.tmpl, err = b.startTemplated(ctx); err != nil {
		return err
	}
	r := &report{started: time.Now(), accel: p.Driver().Accel(), kernel: p.Kernel().Version, cores: runtime.NumCPU(), cpu: cpuModel(), load: loadAvg()}
	err = b.rounds(ctx, o, r)
	// The templated platform's VMs would weigh on the idle figures.
	b.tmpl.p.Shutdown(context.Background())
	if err != nil {
		return err
	}
	if err := b.idle(ctx, o, r); err != nil {
		return err
	}
	if o.fit > 0 {
		if err := b.fitCheck(ctx, o, r); err != nil {
			return err
		}
	}
	r.loadEnd = loadAvg()
	text := r.String()
	if o.out == "" {
		fmt.Print(text)
		return nil
	}
	return os.WriteFile(o.out, []byte(text), 0o644)
}

// rounds deploys the sample app with three instances o.rounds times by
// cold boot and on the templated platform, each round followed by one
// measurement of every capability the build has, so that load from the
// machine's other users falls on all of them alike.
func (b *bench) rounds(ctx context.Context, o options, r *report) error {
	if err := cli.CreateProject(ctx, b.login, api.CreateProjectRequest{Name: "vmbench", MinInstancesPerRegion: 3}); err != nil {
		return err
	}
	r.capResults = map[string][]float64{}
	for i := range o.rounds {
		d, err := b.deploy(ctx, "vmbench")
		if err != nil {
			return err
		}
		r.deployMS = append(r.deployMS, ms(d.ReadyAt.Sub(d.CreatedAt)))
		for _, in := range d.Instances {
			if in.State != api.InstanceHealthy {
				continue
			}
			if v, ok := in.BootTimings["vm_to_healthy"]; ok {
				r.listenMS = append(r.listenMS, v)
			}
			if a, ok := in.BootTimings["vm_to_init"]; ok {
				if c, ok := in.BootTimings["init_to_listening"]; ok {
					r.guestListenMS = append(r.guestListenMS, a+c)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "round %d: cold deploy to 3 healthy %.0f ms\n", i+1, r.deployMS[len(r.deployMS)-1])
		if err := b.tmpl.templatedRound(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "round %d: templated deploy to 3 healthy %.0f ms\n", i+1, r.tmplDeployMS[len(r.tmplDeployMS)-1])
		for _, c := range capabilities {
			v, err := c.measure(ctx, b)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			r.capResults[c.name] = append(r.capResults[c.name], v)
			fmt.Fprintf(os.Stderr, "round %d: %s %.0f ms\n", i+1, c.name, v)
		}
	}
	return nil
}

// deploy deploys the sample app to project and returns the deployment,
// with its instances, once ready.
func (b *bench) deploy(ctx context.Context, project string) (api.Deployment, error) {
	d, err := cli.Deploy(ctx, b.login, io.Discard, project, b.layout)
	if err != nil {
		return d, err
	}
	if d.Status != api.StatusReady {
		return d, fmt.Errorf("deployment %s of %s: %s %s", d.ID, project, d.Status, d.Reason)
	}
	var full api.Deployment
	if err := getJSON(b.login, "/v1/deployments/"+d.ID, &full); err != nil {
		return d, err
	}
	if full.ReadyAt == nil {
		return full, fmt.Errorf("deployment %s is ready without a ready time", d.ID)
	}
	return full, nil
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

// loadAvg is the host's 1-minute load average: the machine is shared, and
// the report says how busy it was.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
