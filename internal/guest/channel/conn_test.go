package channel

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestConnRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	host, guest := NewConn(a), NewConn(b)
	defer host.Close()
	cfg := &Config{InstanceID: "i1", Argv: []string{"/app", "a b"}, Env: []string{"K=v\nw"}, Time: time.Unix(1700000000, 0).UTC(), Entropy: []byte{1, 2, 3}}
	go host.Send(Message{Kind: KindConfig, Config: cfg})
	m, err := guest.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindConfig || m.Config.Argv[1] != "a b" || m.Config.Env[0] != "K=v\nw" || !m.Config.Time.Equal(cfg.Time) || string(m.Config.Entropy) != "\x01\x02\x03" {
		t.Errorf("got %+v", m.Config)
	}
	guest.Close()
	if _, err := host.Receive(); !errors.Is(err, io.EOF) {
		t.Errorf("after close: %v, want EOF", err)
	}
}

func TestReceiveRejectsGarbage(t *testing.T) {
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("not json\n"), io.Discard})
	if _, err := c.Receive(); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestReadLogLines(t *testing.T) {
	in := `{"s":"stdout","t":"2026-01-01T00:00:00Z","l":"one"}
{"s":"stderr","t":"2026-01-01T00:00:01Z","l":"two"}
{"s":"stdout","t":"2026-01-0`
	var got []LogLine
	if err := ReadLogLines(strings.NewReader(in), func(l LogLine) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "one" || got[1].Stream != "stderr" {
		t.Errorf("got %+v (the torn last line must be skipped)", got)
	}
	if err := ReadLogLines(strings.NewReader("{bad\n"), func(LogLine) error { return nil }); err == nil {
		t.Error("bad line accepted")
	}
}
