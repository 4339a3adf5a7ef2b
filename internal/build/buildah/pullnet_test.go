package buildah

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/zeitwork/zeitwork/internal/build"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestBaseImageFromPrivateAddressRefused serves a base image from a
// registry on a private address (in the test's lab namespace) and builds
// FROM it: the builder must not connect there, and the build fails saying
// why. A build FROM the built-in registry on loopback still works.
func TestBaseImageFromPrivateAddressRefused(t *testing.T) {
	l := startLabRegistry(t)
	e := newEnv(t, testLimits)
	private := labAddr + ":5000/test/busybox:1"
	pushBaseTo(t, private)
	if l.n.Load() == 0 {
		t.Fatal("control: the host could not push to the lab registry")
	}
	l.n.Store(0)

	dockerfile := "FROM " + private + "\nRUN echo from-private\n"
	_, err, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if !errors.Is(err, build.ErrUser) {
		t.Fatalf("err = %v, want build.ErrUser\n%s", err, log)
	}
	if first := strings.SplitN(err.Error(), "\n", 2)[0]; !strings.Contains(first, labAddr) || !strings.Contains(first, "private") {
		t.Errorf("error does not say the registry's address is private: %v", first)
	}
	if n := l.n.Load(); n > 0 {
		t.Errorf("the builder connected to the registry on a private address (%d connections)", n)
	}

	dockerfile = "FROM " + e.base + "\nRUN echo from-built-in\n"
	_, err, log = e.build(t, build.Request{Project: "p1", ID: "b2", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if err != nil || !ran(log, "from-built-in") {
		t.Fatalf("control: build FROM the built-in registry: %v\n%s", err, log)
	}
}

// TestBaseImageFromOperatorsPrivateRegistry builds FROM a registry on a
// private address that the operator configured (as its plain-HTTP
// registry or mirror): the proxy lets buildah reach it, and RUN steps do
// not get the proxy's address and password.
func TestBaseImageFromOperatorsPrivateRegistry(t *testing.T) {
	l := startLabRegistry(t)
	e := newEnvWith(t, testLimits, func(c *Config) { c.PlainHTTP = append(c.PlainHTTP, labAddr+":5000") })
	private := labAddr + ":5000/test/busybox:1"
	pushBaseTo(t, private)
	l.n.Store(0)
	dockerfile := "FROM " + private + "\nRUN env; echo from-operators-registry\n"
	_, err, log := e.build(t, build.Request{Project: "p1", ContextDir: writeContext(t, map[string]string{"Dockerfile": dockerfile})}, 2*time.Minute)
	if err != nil || !ran(log, "from-operators-registry") {
		t.Fatalf("build FROM the operator's private registry: %v\n%s", err, log)
	}
	if l.n.Load() == 0 {
		t.Errorf("the build did not fetch from the operator's registry")
	}
	if strings.Contains(strings.ToLower(log), "proxy=") {
		t.Errorf("a RUN step got buildah's proxy settings:\n%s", log)
	}
}

// startLabRegistry serves a registry on the lab's private address, port
// 5000, and counts its connections.
func startLabRegistry(t *testing.T) *countingListener {
	t.Helper()
	startLab(t)
	var l *countingListener
	inNetNS(t, labNS, func() {
		raw, err := net.Listen("tcp", labAddr+":5000")
		if err != nil {
			t.Fatal(err)
		}
		l = &countingListener{Listener: raw}
	})
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

// TestPullProxyDial checks the proxy's dial policy without sending a
// packet to a refused address (the check runs before connect): cloud
// metadata, other loopback ports and private addresses are refused and
// recorded; the operator's registry on loopback is reached.
func TestPullProxyDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := newPullNet(Config{Name: "t"}, 0, []string{l.Addr().String()})
	for _, addr := range []string{"169.254.169.254:80", "127.0.0.1:5432", "10.0.0.5:5000", "[::1]:80", "localhost:7070"} {
		c, err := p.dial(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: allowed", addr)
		} else if !strings.Contains(err.Error(), "private, loopback or link-local") {
			t.Errorf("dial %s: %v, want a refusal that says why", addr, err)
		}
	}
	if got := p.deniedHosts(); len(got) != 5 {
		t.Errorf("denied hosts = %v, want all five", got)
	}
	c, err := p.dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial the operator's registry: %v", err)
	}
	c.Close()
}
