package platform

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// TestEndToEnd runs the whole platform on this machine with real microVMs
// and walks a user's path: deploy, browse through the edge, survive a
// crashed VM and an agent restart, reject bad deployments without harming
// the live one, and clean up after a delete.
func TestEndToEnd(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.AllowVMs = []netip.Prefix{fakeInternetTransit()} })
	// An HTTP health check, so that path is the one exercised here; the
	// benchmark and `zeitwork up` use the default TCP check.
	e.createProject("hello", "/healthz")
	layout := e.sampleLayout("hello", examples.SampleConfig)

	var live api.Deployment
	t.Run("deploy three instances and serve both URLs", func(t *testing.T) {
		d, err := e.deploy("hello", layout)
		if err != nil {
			t.Fatalf("deploy: %v", err)
		}
		d = e.getDeployment(d.ID)
		if d.Status != api.StatusReady || !d.Live || len(healthyIDs(d)) != 3 {
			t.Fatalf("deployment not ready with 3 healthy instances: %s", describe(d))
		}
		for _, host := range []string{e.host(api.VersionedLabel("hello", d.ID)), e.host("hello")} {
			status, body, err := e.get(host, "/")
			if err != nil || status != 200 || !strings.Contains(body, "Hello from Zeitwork") {
				t.Fatalf("GET %s: %d %v %.200s", host, status, err, body)
			}
		}
		// Round-robin: over a few requests more than one instance answers.
		seen := map[string]bool{}
		for i := 0; i < 12; i++ {
			_, body, err := e.get(e.host("hello"), "/env?k=HOSTNAME")
			if err == nil {
				seen[body] = true
			}
		}
		if len(seen) < 2 {
			t.Errorf("edge did not spread requests over instances: %v", seen)
		}
		live = d
	})
	if live.ID == "" {
		t.FailNow()
	}

	t.Run("metrics show every role on their own listener", func(t *testing.T) {
		resp, err := http.Get(e.p.MetricsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		text := string(b)
		for _, want := range []string{
			`zeitwork_instances{state="healthy"} 3`,
			`zeitwork_node_instances{net="` + e.p.cfg.NetName + `",state="healthy"} 3`,
			`zeitwork_edge_responses_total{class="2xx"}`,
			`zeitwork_edge_project_requests_total{class="2xx",project="hello"}`,
			`zeitwork_operator_reconcile_duration_seconds_count`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		// At least the three boots that made the instances healthy.
		boots := regexp.MustCompile(`zeitwork_node_boot_duration_seconds_count{net="` + e.p.cfg.NetName + `"} ([3-9]|\d\d)\n`)
		if !boots.MatchString(text) {
			t.Errorf("metrics lack three boot durations")
		}
		if t.Failed() {
			t.Logf("metrics:\n%s", text)
		}
	})

	t.Run("each instance reports its VM's memory and host CPU", func(t *testing.T) {
		checkUsage(t, e, live.ID)
	})

	t.Run("edge access log lines reach the project (zeitwork logs --edge)", func(t *testing.T) {
		e.eventually("an access line of hello", 15*time.Second, func() (bool, string) {
			var lines []api.EdgeLogLine
			e.api("GET", "/v1/projects/hello/edge-logs?tail=50", &lines)
			for _, l := range lines {
				if strings.Contains(l.Text, `"project":"hello"`) && strings.Contains(l.Text, `"status":200`) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d lines", len(lines))
		})
	})

	t.Run("app logs reach the API, also as a live stream", func(t *testing.T) {
		e.eventually("the app's start-up line in its logs", 15*time.Second, func() (bool, string) {
			var lines []api.LogLine
			e.api("GET", "/v1/deployments/"+live.ID+"/logs?tail=50", &lines)
			for _, l := range lines {
				if strings.Contains(l.Text, "listening on") {
					return true, ""
				}
			}
			return false, fmt.Sprint(len(lines), " lines")
		})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.p.APIURL+"/v1/deployments/"+live.ID+"/logs?follow=1&tail=1", nil)
		req.Header.Set("Authorization", "Bearer "+e.p.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "id: ") {
			t.Fatalf("first SSE line %q %v", line, err)
		}
	})
	t.Run("status shows the node's driver and accelerator", func(t *testing.T) {
		var st api.Status
		e.api("GET", "/v1/status", &st)
		if len(st.Nodes) != 1 || st.Nodes[0].Driver != "qemu" || st.Nodes[0].Accel != e.p.Driver().Accel() ||
			(st.Nodes[0].Accel != "kvm" && st.Nodes[0].Accel != "tcg") {
			t.Fatalf("nodes in status: %+v", st.Nodes)
		}
		t.Logf("accelerator: %s", st.Nodes[0].Accel)
	})

	t.Run("unknown host is a clear 404", func(t *testing.T) {
		status, body, _ := e.get(e.host("nothing-here"), "/")
		if status != 404 || !strings.Contains(body, "no app is deployed") {
			t.Fatalf("got %d %q", status, body)
		}
	})

	t.Run("a new deployment with env vars takes over without downtime", func(t *testing.T) {
		live = testRedeployWithEnv(t, e, layout, live)
	})

	t.Run("a killed VM is replaced", func(t *testing.T) {
		victim := healthyIDs(e.getDeployment(live.ID))[0]
		pid := e.qemuPID(victim)
		if pid == 0 {
			t.Fatalf("no pid for %s", victim)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.eventually("the killed instance to be restarted and healthy", 90*time.Second, func() (bool, string) {
			d := e.getDeployment(live.ID)
			newPID := e.qemuPID(victim)
			var restarts int
			for _, in := range d.Instances {
				if in.ID == victim {
					restarts = in.Restarts
				}
			}
			return len(healthyIDs(d)) == 3 && restarts > 0 && newPID != 0 && newPID != pid, describe(d)
		})
		if status, _, _ := e.get(e.host("hello"), "/"); status != 200 {
			t.Fatalf("project URL answers %d after the replacement", status)
		}
	})

	t.Run("restarting the node agent keeps the VMs", func(t *testing.T) {
		d := e.getDeployment(live.ID)
		before := map[string]int{}
		for _, id := range healthyIDs(d) {
			before[id] = e.qemuPID(id)
		}
		e.p.StopAgent()
		for id, pid := range before {
			if syscall.Kill(pid, 0) != nil {
				t.Fatalf("vm of %s died with the agent", id)
			}
		}
		if err := e.p.StartAgent(); err != nil {
			t.Fatal(err)
		}
		e.eventually("the edge to serve through the new agent", 30*time.Second, func() (bool, string) {
			status, body, err := e.get(e.host("hello"), "/")
			return status == 200, fmt.Sprint(status, err, body)
		})
		after := e.getDeployment(live.ID)
		for _, id := range healthyIDs(after) {
			if before[id] != e.qemuPID(id) {
				t.Errorf("instance %s was rebooted (pid %d -> %d)", id, before[id], e.qemuPID(id))
			}
		}
		if len(healthyIDs(after)) != 3 {
			t.Fatalf("after agent restart: %s", describe(after))
		}
	})

	t.Run("bad deployments fail clearly and the live one stays", func(t *testing.T) {
		testBadInput(t, e, live)
	})

	t.Run("network isolation", func(t *testing.T) {
		testIsolation(t, e, live)
	})

	t.Run("delete removes every vm, tap and disk", func(t *testing.T) {
		if code := e.api("DELETE", "/v1/deployments/"+live.ID, nil); code != 200 {
			t.Fatalf("delete answered %d", code)
		}
		e.eventually("every instance to stop", 60*time.Second, func() (bool, string) {
			d := e.getDeployment(live.ID)
			for _, in := range d.Instances {
				if in.State != api.InstanceStopped {
					return false, describe(d)
				}
			}
			return true, ""
		})
		vms, _ := os.ReadDir(e.dir + "/vms")
		for _, v := range vms {
			if v.IsDir() && !strings.HasPrefix(v.Name(), ".") {
				t.Errorf("vm state left: %s", v.Name())
			}
		}
		if taps, err := e.p.Network().Taps(); err != nil || len(taps) != 0 {
			t.Errorf("taps left: %v %v", taps, err)
		}
		if disks, _ := os.ReadDir(e.dir + "/node/disks"); len(disks) != 0 {
			t.Errorf("disks left: %v", disks)
		}
		status, body, _ := e.get(e.host("hello"), "/")
		if status == 200 {
			t.Errorf("project URL still served after delete: %s", body)
		}
	})

	t.Run("deleting a project takes its URLs and VMs down at once", func(t *testing.T) {
		testDeleteProject(t, e, layout)
	})

	t.Run("shutdown with a VM running leaves nothing behind", func(t *testing.T) {
		if code := e.apiBody("POST", "/v1/projects", `{"name":"solo","min_instances_per_region":1,"memory_mib":192}`, e.p.Token, nil); code != 201 {
			t.Fatalf("create project: %d", code)
		}
		d, err := e.deploy("solo", layout)
		if err != nil {
			t.Fatal(err)
		}
		// The project's instance size reaches the VMM.
		d = e.getDeployment(d.ID)
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.qemuPID(d.Instances[0].ID)))
		if !strings.Contains(string(cmdline), "size=192M") {
			t.Errorf("instance not sized as its project says: %q", strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
		if err := e.p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if procs := processesMentioning(e.dir); len(procs) > 0 {
			t.Errorf("processes left running: %v", procs)
		}
		if _, err := os.Stat("/run/netns/" + e.p.cfg.NetName); !os.IsNotExist(err) {
			t.Errorf("network namespace left: %v", err)
		}
		if disks, _ := os.ReadDir(e.dir + "/node/disks"); len(disks) != 0 {
			t.Errorf("disks left: %v", disks)
		}
	})
}

// processesMentioning lists processes whose command line contains s (QEMU
// and PostgreSQL are started with paths under the state directory).
func processesMentioning(s string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func testBadInput(t *testing.T, e *env, live api.Deployment) {
	cases := []struct {
		name   string
		ref    func() string
		reason string
	}{
		{"image that does not exist", func() string { return strings.TrimPrefix(e.p.APIURL, "http://") + "/hello:missing" }, "not found"},
		{"image with no entrypoint", func() string {
			return e.sampleLayout("noentry", image.ImageConfig{Cmd: []string{}, Entrypoint: []string{}, User: "1000", Env: []string{"A=b"}})
		}, "no entrypoint"},
		{"app that crashes at boot", func() string {
			return e.sampleLayout("crash", image.ImageConfig{Entrypoint: []string{"/app", "-crash"}})
		}, "exited with code 1"},
		{"app that never listens", func() string {
			return e.sampleLayout("nolisten", image.ImageConfig{Entrypoint: []string{"/app", "-no-listen"}})
		}, "did not listen"},
		{"entrypoint that is not in the image", func() string {
			return e.sampleLayout("noexec", image.ImageConfig{Entrypoint: []string{"/nope"}})
		}, "/nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := e.deploy("hello", c.ref())
			if err == nil {
				t.Fatalf("deploy succeeded: %s", describe(d))
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("CLI error %q does not say %q", err, c.reason)
			}
			if d.ID != "" {
				d = e.getDeployment(d.ID)
				if d.Status != api.StatusFailed || !strings.Contains(d.Reason, c.reason) {
					t.Errorf("deployment: %s", describe(d))
				}
				e.eventually("the failed deployment's instances to stop", 60*time.Second, func() (bool, string) {
					d := e.getDeployment(d.ID)
					for _, in := range d.Instances {
						if in.State != api.InstanceStopped {
							return false, describe(d)
						}
					}
					return true, ""
				})
			}
			cur := e.getDeployment(live.ID)
			if !cur.Live || cur.Status != api.StatusReady {
				t.Fatalf("live deployment harmed: %s", describe(cur))
			}
			if status, _, _ := e.get(e.host("hello"), "/"); status != 200 {
				t.Fatalf("project URL answers %d", status)
			}
		})
	}
	t.Run("invalid project name and token", func(t *testing.T) {
		var apiErr api.Error
		if code := e.apiBody("POST", "/v1/projects", `{"name":"Bad_Name"}`, e.p.Token, &apiErr); code != 400 || !strings.Contains(apiErr.Error, "invalid project name") {
			t.Errorf("bad name: %d %+v", code, apiErr)
		}
		if code := e.apiBody("GET", "/v1/projects", "", "zw_wrong", &apiErr); code != 401 || apiErr.Hint == "" {
			t.Errorf("bad token: %d %+v", code, apiErr)
		}
	})
}

func testIsolation(t *testing.T, e *env, live api.Deployment) {
	d := e.getDeployment(live.ID)
	ids := healthyIDs(d)
	if len(ids) < 2 {
		t.Fatalf("need two instances: %s", describe(d))
	}
	var other string
	for _, in := range d.Instances {
		if in.ID == ids[1] {
			other = in.Address
		}
	}
	apiPort := e.p.APIURL[strings.LastIndexByte(e.p.APIURL, ':')+1:]
	transitHost := e.p.cfg.Transit.Masked().Addr().Next().String()
	gateway := e.p.cfg.Subnet.Masked().Addr().Next().String()
	for _, target := range []string{
		net.JoinHostPort(other, "8080"),        // another VM
		net.JoinHostPort(transitHost, apiPort), // the host, through its veth address
		net.JoinHostPort(gateway, "22"),        // the namespace's gateway
	} {
		_, body, err := e.get(e.host(api.VersionedLabel("hello", live.ID)), "/dial?addr="+target)
		if err != nil || !strings.Contains(body, "error") {
			t.Errorf("a VM reached %s: %q %v", target, body, err)
		}
	}
	// Through the host's NAT, a VM reaches a host that is neither the node
	// nor another VM, and that host sees the node's address, not the VM's.
	inet := startFakeInternet(t, fakeInternetTransit())
	status, body, err := e.get(e.host(api.VersionedLabel("hello", live.ID)), "/dial?addr="+inet.addr)
	if status != 200 || !strings.Contains(body, "ok") {
		t.Errorf("a VM cannot reach the outside through NAT: %d %q %v", status, body, err)
	}
	seen := inet.seen()
	if len(seen) == 0 {
		t.Errorf("the outside host saw no connection")
	}
	for _, remote := range seen {
		if ap, err := netip.ParseAddrPort(remote); err != nil || e.p.cfg.Subnet.Contains(ap.Addr()) {
			t.Errorf("outside host saw %s, a VM address: not masqueraded", remote)
		}
	}

	// The probe itself works: a VM reaches its own app.
	status, body, err = e.get(e.host(api.VersionedLabel("hello", live.ID)), "/dial?addr=127.0.0.1:8080")
	if status != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("a VM cannot reach its own app, so the checks above prove nothing: %d %q %v", status, body, err)
	}
}

// testRedeployWithEnv sets a secret, deploys again while a client keeps
// requesting the project URL, and checks that the URL never failed, that the
// secret reached the new VMs and that it is not stored in the clear.
func testRedeployWithEnv(t *testing.T, e *env, layout string, prev api.Deployment) api.Deployment {
	const secret = "s3cr3t-value-42"
	if code := e.apiBody("PUT", "/v1/projects/hello/env/API_SECRET", `{"value":"`+secret+`"}`, e.p.Token, nil); code != 204 {
		t.Fatalf("set env: %d", code)
	}
	var sealed []byte
	if err := e.p.Store.Pool.QueryRow(t.Context(), "SELECT sealed FROM env_vars WHERE name = 'API_SECRET'").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), secret) {
		t.Fatal("env var stored in the clear")
	}

	stop := make(chan struct{})
	failures := make(chan string, 1000)
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			status, body, err := e.get(e.host("hello"), "/healthz")
			if status != 200 {
				failures <- fmt.Sprint(status, " ", err, " ", body)
			}
			n++
		}
	}()
	d, err := e.deploy("hello", layout)
	close(stop)
	n := <-done
	close(failures)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	for f := range failures {
		t.Errorf("project URL failed during the switch: %s", f)
	}
	t.Logf("%d requests to the project URL during the deploy", n)
	d = e.getDeployment(d.ID)
	if !d.Live || d.ID == prev.ID {
		t.Fatalf("new deployment not live: %s", describe(d))
	}
	_, body, _ := e.get(e.host("hello"), "/env?k=API_SECRET&k=PORT")
	if !strings.Contains(body, "API_SECRET="+secret) || !strings.Contains(body, "PORT=8080") {
		t.Fatalf("env in the VM: %q", body)
	}
	e.eventually("the previous deployment to drain", 60*time.Second, func() (bool, string) {
		old := e.getDeployment(prev.ID)
		for _, in := range old.Instances {
			if in.State != api.InstanceStopped {
				return false, describe(old)
			}
		}
		return old.Status == api.StatusStopped, describe(old)
	})
	return d
}

// testDeleteProject deploys a project of one instance, deletes the project
// and sees both its URLs answer 404 through the edge and its VM and tap go.
func testDeleteProject(t *testing.T, e *env, layout string) {
	tapsBefore, err := e.p.Network().Taps()
	if err != nil {
		t.Fatal(err)
	}
	if code := e.apiBody("POST", "/v1/projects", `{"name":"doomed","min_instances_per_region":1}`, e.p.Token, nil); code != 201 {
		t.Fatalf("create project: %d", code)
	}
	d, err := e.deploy("doomed", layout)
	if err != nil || d.Status != api.StatusReady {
		t.Fatalf("deploy: %v %s", err, describe(d))
	}
	d = e.getDeployment(d.ID)
	if len(d.Instances) != 1 {
		t.Fatalf("instances: %s", describe(d))
	}
	instance := d.Instances[0].ID
	pid := e.qemuPID(instance)
	hosts := []string{e.host("doomed"), e.host(api.VersionedLabel("doomed", d.ID))}
	for _, host := range hosts {
		if status, body, err := e.get(host, "/"); err != nil || status != 200 {
			t.Fatalf("GET %s before the deletion: %d %v %.200s", host, status, err, body)
		}
	}
	start := time.Now()
	if code := e.api("DELETE", "/v1/projects/doomed", nil); code != 200 {
		t.Fatalf("delete project: %d", code)
	}
	e.eventually("the project's URLs to answer 404", 5*time.Second, func() (bool, string) {
		for _, host := range hosts {
			if status, body, err := e.get(host, "/"); err != nil || status != 404 {
				return false, fmt.Sprintf("%s: %d %v %.100s", host, status, err, body)
			}
		}
		return true, ""
	})
	gone := time.Since(start)
	e.eventually("the project's VM and tap to go", 60*time.Second, func() (bool, string) {
		taps, _ := e.p.Network().Taps()
		_, dirErr := os.Stat(filepath.Join(e.dir, "vms", instance))
		alive := pid > 0 && syscall.Kill(pid, 0) == nil
		return len(taps) == len(tapsBefore) && os.IsNotExist(dirErr) && !alive,
			fmt.Sprintf("taps %v (before %v), vm dir: %v, qemu %d alive: %v", taps, tapsBefore, dirErr, pid, alive)
	})
	t.Logf("after the deletion: URLs 404 in %s, VM and tap gone in %s", gone.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
