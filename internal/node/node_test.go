package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/guest/channel"
	"github.com/zeitwork/zeitwork/internal/image"
)

func TestGuestConfigMergesEnv(t *testing.T) {
	d := api.DesiredInstance{ID: "i1", Port: 3000, Env: []string{"MODE=prod", "PORT=1"}}
	img := image.ImageConfig{
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve"},
		Env: []string{"PATH=/bin", "MODE=dev"}, User: "app", WorkingDir: "/srv",
	}
	cfg := guestConfig(d, img)
	// Project env overrides the image's; PORT is the platform's and wins.
	if want := []string{"PATH=/bin", "MODE=prod", "PORT=3000"}; !reflect.DeepEqual(cfg.Env, want) {
		t.Errorf("env = %v, want %v", cfg.Env, want)
	}
	if !reflect.DeepEqual(cfg.Argv, []string{"/bin/app", "serve"}) || cfg.User != "app" || cfg.WorkingDir != "/srv" || cfg.Port != 3000 {
		t.Errorf("config = %+v", cfg)
	}
	if len(cfg.Entropy) == 0 || cfg.RootDevice == "" {
		t.Errorf("entropy or root device missing")
	}
}

func TestLogTailReadsCompleteLinesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(text string) {
		b, _ := json.Marshal(channel.LogLine{Stream: "stdout", Time: time.Now(), Text: text})
		f.Write(append(b, '\n'))
	}
	tail := newLogTail(path, 0, "inst", LogLimits{})
	write("one")
	write("two")
	f.Write([]byte(`{"s":"stdout","l":"par`)) // a line still being written
	tail.read()
	lines := tail.drain()
	if len(lines) != 2 || lines[0].Text != "one" || lines[1].Instance != "inst" {
		t.Fatalf("first read: %+v", lines)
	}
	if tail.read(); len(tail.drain()) != 0 {
		t.Fatal("lines read twice")
	}
	f.Write([]byte("tial\"}\n"))
	tail.read()
	if lines := tail.drain(); len(lines) != 1 || lines[0].Text != "partial" {
		t.Fatalf("completed line: %+v", lines)
	}
	if got := tail.lastLines("last: %s"); !strings.Contains(got, "one | two | partial") {
		t.Errorf("lastLines = %q", got)
	}
}

func TestRecordsSurviveRoundTrip(t *testing.T) {
	r := records{dir: t.TempDir()}
	rec := record{Desired: api.DesiredInstance{ID: "abc", Image: "r/x@sha256:1"}, Address: "10.0.0.2", Restarts: 2}
	if err := r.save(rec); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dir, "torn.json"), []byte("{"), 0o600)
	got, err := r.load()
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got["abc"], rec) {
		t.Fatalf("load = %+v, %v", got, err)
	}
	r.remove("abc")
	if got, _ := r.load(); len(got) != 0 {
		t.Fatalf("removed record still loads: %+v", got)
	}
}
