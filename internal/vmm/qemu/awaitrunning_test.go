package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// fakeQMP serves one QMP client on a unix socket: a VM that is migrating in,
// then paused, then running once it gets cont. It returns the socket and a
// channel that yields the commands the client sent, once it hangs up.
func fakeQMP(t *testing.T, migratingPolls int) (string, <-chan []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan []string, 1)
	go func() {
		var cmds []string
		defer func() { got <- cmds }()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP":{"version":{},"capabilities":[]}}`)
		status := "inmigrate"
		s := bufio.NewScanner(c)
		for s.Scan() {
			var req struct {
				Execute string `json:"execute"`
			}
			json.Unmarshal(s.Bytes(), &req)
			cmds = append(cmds, req.Execute)
			switch req.Execute {
			case "query-status":
				if status == "inmigrate" && migratingPolls == 0 {
					status = "paused"
				}
				migratingPolls--
				fmt.Fprintf(c, `{"return":{"status":%q,"running":%v}}`+"\n", status, status == "running")
			case "cont":
				status = "running"
				fmt.Fprintln(c, `{"return":{}}`)
			default:
				fmt.Fprintln(c, `{"return":{}}`)
			}
		}
	}()
	return path, got
}

// TestAwaitRunningReturnsOnContsAnswer: QEMU answers cont once the VM runs,
// so awaitRunning returns then rather than asking for the status again
// after another poll interval, which held every restore's Config back.
func TestAwaitRunningReturnsOnContsAnswer(t *testing.T) {
	path, got := fakeQMP(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := awaitRunning(ctx, path); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	select {
	case cmds = <-got:
	case <-ctx.Done():
		t.Fatal("awaitRunning left the QMP connection open")
	}
	want := []string{"qmp_capabilities", "query-status", "query-status", "query-status", "cont"}
	if fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Errorf("commands %v, want %v", cmds, want)
	}
}
