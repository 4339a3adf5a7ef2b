package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, target string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

func TestPages(t *testing.T) {
	h := newHandler(func(k string) string { return map[string]string{"GREETING": "hi"}[k] })
	resp, body := get(t, h, "http://app.localhost/", "X-Forwarded-For", "203.0.113.9, <b>")
	if resp.StatusCode != 200 || !strings.Contains(body, "Hello from Zeitwork") ||
		!strings.Contains(body, "app.localhost") || !strings.Contains(body, "203.0.113.9, &lt;b&gt;") {
		t.Errorf("index: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, "/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	if resp, body := get(t, h, "/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if _, body := get(t, h, "/env?k=GREETING&k=UNSET"); body != "GREETING=hi\nUNSET=\n" {
		t.Errorf("env: %q", body)
	}
}

func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	defer ln.Close()
	h := newHandler(func(string) string { return "" })
	if resp, body := get(t, h, "/dial?addr="+open); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("dial open port: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, h, "/dial?addr="+closedAddr+"&timeout=1s"); resp.StatusCode != 502 || !strings.HasPrefix(body, "error: ") {
		t.Errorf("dial closed port: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, "/dial"); resp.StatusCode != 400 {
		t.Errorf("dial without addr: %d", resp.StatusCode)
	}
}

func TestCrash(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-crash"}, func(string) string { return "" }, io.Discard, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "crashing on purpose") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		<-tick.C
	}
	t.Fatalf("no %v in output %q", re, out.String())
	return nil
}

func TestServeAndGracefulStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	env := map[string]string{"PORT": "0"}
	go func() {
		done <- run(ctx, []string{"-dial", "127.0.0.1:1"}, func(k string) string { return env[k] }, &out, io.Discard)
	}()
	m := waitFor(t, &out, regexp.MustCompile(`listening on \[::\]:(\d+)`))
	if !strings.Contains(out.String(), "dial 127.0.0.1:1: error") {
		t.Errorf("no dial result in %q", out.String())
	}
	resp, err := http.Get("http://127.0.0.1:" + m[1] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code after SIGTERM %d, want 0", code)
	}
}

func TestNoListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-no-listen"}, func(string) string { return "" }, &out, io.Discard) }()
	waitFor(t, &out, regexp.MustCompile(`running without listening`))
	if strings.Contains(out.String(), "listening on") {
		t.Error("listened despite -no-listen")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func TestFlood(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	go run(ctx, []string{"-flood", "50ms"}, func(k string) string {
		if k == "PORT" {
			return "0"
		}
		return ""
	}, &out, io.Discard)
	waitFor(t, &out, regexp.MustCompile(`flood over`))
	if n := strings.Count(out.String(), "hello: flood x"); n < 100 {
		t.Errorf("%d flood lines", n)
	}
}

// /alloc keeps what it allocates and never holds more than its cap.
func TestAlloc(t *testing.T) {
	h := newHandler(func(string) string { return "" })
	if resp, body := get(t, h, "/alloc?mib=40"); resp.StatusCode != 200 || body != "holding 40 MiB\n" {
		t.Fatalf("alloc 40: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, "/alloc?mib=30"); resp.StatusCode != http.StatusConflict {
		t.Errorf("alloc past the cap: %d", resp.StatusCode)
	}
	for _, q := range []string{"", "mib=0", "mib=65", "mib=x"} {
		if resp, _ := get(t, h, "/alloc?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("alloc ?%s: %d", q, resp.StatusCode)
		}
	}
}
