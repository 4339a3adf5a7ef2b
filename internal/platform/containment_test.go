package platform

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/examples"
	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
)

// The private lab's addresses (see startPrivateLab): none of them may be
// reached by a VM, except the allowed control and the DNS server on port 53.
var (
	labMetadata = netip.MustParseAddr("169.254.169.254")
	labRFC1918A = netip.MustParseAddr("172.20.0.10")
	labRFC1918B = netip.MustParseAddr("192.168.213.10")
	labCGNAT    = netip.MustParseAddr("100.64.0.10")
	labAllowed  = netip.MustParseAddr("192.168.213.20")
	labDNS      = netip.MustParseAddr("172.20.0.53")
)

const labPort = 8099

// TestGuestContainment runs a hostile app, root in its VM, next to an
// ordinary one on one platform, and checks what the network lets it do.
func TestGuestContainment(t *testing.T) {
	b := byte(os.Getpid()%150 + 50)
	labTen := netip.AddrFrom4([4]byte{10, 247, b, 10})
	denied := []netip.Addr{labMetadata, labTen, labRFC1918A, labRFC1918B, labCGNAT}
	lab := startPrivateLab(t, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 246, b, 0}), 30),
		append([]netip.Addr{labAllowed, labDNS}, denied...), []uint16{labPort, 53})
	e := startEnv(t, func(c *Config) {
		c.DNS = []string{labDNS.String()}
		c.AllowVMs = []netip.Prefix{netip.PrefixFrom(labAllowed, 32)}
	})
	for _, name := range []string{"victim", "hostile"} {
		if code := e.apiBody("POST", "/v1/projects", `{"name":"`+name+`","min_instances_per_region":1}`, e.p.Token, nil); code != 201 {
			t.Fatalf("create project %s: %d", name, code)
		}
	}
	victim, err := e.deploy("victim", e.sampleLayout("victim", examples.SampleConfig))
	if err != nil {
		t.Fatalf("deploy victim: %v", err)
	}
	hostile, err := e.deploy("hostile", hostileLayout(t, e))
	if err != nil {
		t.Fatalf("deploy hostile: %v", err)
	}

	t.Run("a VM reaches no private, link-local or CGNAT address", func(t *testing.T) {
		probe := func(kind string, a netip.AddrPort) (int, string) {
			status, body, err := e.get(e.host("hostile"), "/"+kind+"?addr="+a.String())
			return status, fmt.Sprint(strings.TrimSpace(body), err)
		}
		// The probes work: the allow-listed address and the DNS server's
		// port 53 are reached.
		for _, a := range []netip.AddrPort{netip.AddrPortFrom(labAllowed, labPort), netip.AddrPortFrom(labDNS, 53)} {
			for _, kind := range []string{"dial", "udp"} {
				if status, res := probe(kind, a); status != 200 {
					t.Fatalf("%s %s from a VM failed, so the checks below prove nothing: %d %s", kind, a, status, res)
				}
			}
		}
		targets := []netip.AddrPort{netip.AddrPortFrom(labDNS, labPort)} // the DNS server, not on port 53
		for _, a := range denied {
			targets = append(targets, netip.AddrPortFrom(a, labPort), netip.AddrPortFrom(a, 53))
		}
		for _, a := range targets {
			for _, kind := range []string{"dial", "udp"} {
				if status, res := probe(kind, a); status != 502 {
					t.Errorf("%s %s from a VM: %d %s", kind, a, status, res)
				}
			}
			for _, proto := range []string{"tcp", "udp"} {
				if n := lab.reached(proto, a); n > 0 {
					t.Errorf("%s %s was reached %d times", proto, a, n)
				}
			}
		}
	})

	t.Run("a VM that takes another's MAC and address receives none of its traffic", func(t *testing.T) {
		testMACTakeover(t, e, victim, hostile)
	})
}

// testMACTakeover has the hostile VM take the victim's MAC and address and
// announce them, then checks that the victim still answers every request
// and that none reached the hostile VM.
func testMACTakeover(t *testing.T, e *env, victim, hostile api.Deployment) {
	v := e.getDeployment(victim.ID)
	if len(v.Instances) != 1 || v.Instances[0].Address == "" {
		t.Fatalf("victim: %s", describe(v))
	}
	addr := v.Instances[0].Address
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.qemuPID(v.Instances[0].ID)))
	m := regexp.MustCompile(`mac=([0-9a-f:]{17})`).FindSubmatch(cmdline)
	if m == nil {
		t.Fatalf("no mac on the victim's QEMU command line: %q", cmdline)
	}
	victimHost := "HOSTNAME=victim-" + v.Instances[0].ID[:8]
	askVictim := func() (bool, string) {
		status, body, err := e.get(e.host("victim"), "/env?k=HOSTNAME")
		return status == 200 && strings.TrimSpace(body) == victimHost, fmt.Sprint(status, " ", strings.TrimSpace(body), " ", err)
	}
	if ok, res := askVictim(); !ok {
		t.Fatalf("victim before the attack: %s", res)
	}
	status, body, err := e.get(e.host("hostile"), fmt.Sprintf("/steal?mac=%s&addr=%s", m[1], addr))
	if status != 200 || !strings.Contains(body, "stealing") {
		t.Fatalf("steal: %d %q %v", status, body, err)
	}
	// The attack ran: the guest took the MAC and address and kept
	// announcing them.
	e.eventually("the hostile VM to announce the victim's address", 30*time.Second, func() (bool, string) {
		logs := deploymentLogs(e, hostile.ID)
		if strings.Contains(logs, "steal failed") {
			t.Fatalf("the attack could not run: %s", logs)
		}
		return strings.Contains(logs, "announced the stolen address 10 times"), logs
	})
	for i := 0; i < 30; i++ {
		if ok, res := askVictim(); !ok {
			t.Errorf("request %d to the victim during the attack: %s", i, res)
		}
	}
	if logs := deploymentLogs(e, hostile.ID); strings.Contains(logs, "stolen request") {
		t.Errorf("the hostile VM received the victim's traffic:\n%s", logs)
	}
}

// deploymentLogs returns the last log lines of a deployment as text.
func deploymentLogs(e *env, id string) string {
	var lines []api.LogLine
	e.api("GET", "/v1/deployments/"+id+"/logs?tail=200", &lines)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// hostileLayout builds testdata/hostile into an image that runs as root
// and writes it as an OCI layout.
func hostileLayout(t *testing.T, e *env) string {
	t.Helper()
	bin := filepath.Join(e.dir, "hostile-app")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/hostile")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the hostile app: %v: %s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := image.PasswdFiles("app")
	files["/app"] = image.File{Mode: 0o755, Data: data}
	img, err := image.FromFiles(files, image.ImageConfig{
		Entrypoint: []string{"/app"}, User: "0:0", WorkingDir: "/", ExposedPorts: []string{"8080/tcp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "images", "hostile")
	if err := image.WriteLayout(dir, img, "hostile"); err != nil {
		t.Fatal(err)
	}
	return dir
}
