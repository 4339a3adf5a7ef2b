package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/zeitwork/zeitwork/internal/cli"
	"github.com/zeitwork/zeitwork/internal/lb"
)

// `zeitwork lb --check` prints the configuration with defaults; a bad
// file is refused with the reason and what to do.
func TestLBCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"region":"fra","regions":[{"name":"fra","edges":["10.1.0.10"]}]}`), 0o600)
	cmd := lbCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--config", good, "--check"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var cfg lb.Config
	if err := json.Unmarshal(out.Bytes(), &cfg); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if cfg.Balance != lb.RoundRobin || len(cfg.Listeners) != 2 || cfg.Health.Fall != 3 {
		t.Fatalf("defaults missing from %s", out.String())
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"region":"fra","regions":[{"name":"ams","edges":["10.1.0.10:80"]}]}`), 0o600)
	cmd = lbCmd()
	cmd.SetArgs([]string{"--config", bad, "--check"})
	err := cmd.Execute()
	var ue *cli.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "without port") || !strings.Contains(ue.Msg, `region "fra" is not among regions`) ||
		!strings.Contains(ue.Hint, "--check") {
		t.Fatalf("bad config: %v, want a user error naming both mistakes and how to check", err)
	}
}

// The real binary drains on SIGTERM: it stops accepting at once, lets an
// open connection finish, then exits 0.
func TestLBDrainsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "zeitwork")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	edgeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer edgeLn.Close()
	relayed := make(chan struct{}, 10)
	go func() { // an edge stand-in: reads the PROXY header, answers "got <data>" at EOF
		pl := &proxyproto.Listener{Listener: edgeLn}
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				first := make([]byte, 5)
				if _, err := io.ReadFull(c, first); err != nil {
					return // a health check
				}
				relayed <- struct{}{}
				rest, _ := io.ReadAll(c)
				fmt.Fprintf(c, "got %s%s from %s", first, rest, c.RemoteAddr())
			}()
		}
	}()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lbAddr := free.Addr().String()
	free.Close()
	cfgPath := filepath.Join(dir, "lb.json")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `{"region":"r","listeners":[{"listen":%q,"edge_port":%d}],
		"regions":[{"name":"r","edges":["127.0.0.1"]}],"drain_timeout":"30s"}`, lbAddr, edgeLn.Addr().(*net.TCPAddr).Port), 0o600)
	cmd := exec.Command(bin, "lb", "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	var c net.Conn
	deadline := time.Now().Add(20 * time.Second)
	for c == nil {
		if c, err = net.Dial("tcp", lbAddr); err != nil && time.Now().After(deadline) {
			t.Fatalf("lb did not listen: %v\n%s", err, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	select { // the relay reached the edge: the connection is the lb's to drain
	case <-relayed:
	case <-time.After(10 * time.Second):
		t.Fatalf("lb did not relay to the edge\n%s", logs.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	deadline = time.Now().Add(10 * time.Second)
	for {
		d, err := net.Dial("tcp", lbAddr)
		if err != nil {
			break
		}
		d.Close()
		if time.Now().After(deadline) {
			t.Fatal("lb still accepting after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("lb exited with a connection open: %v\n%s", err, logs.String())
	default:
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(got), "got hello from "+c.LocalAddr().String()) {
		t.Fatalf("answer during drain %q, %v", got, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("lb exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lb did not exit after its last connection")
	}
}
