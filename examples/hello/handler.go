package main

import (
	"fmt"
	"html/template"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Hello from Zeitwork</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>Hello from Zeitwork</h1>
<p>This page was served by a microVM.</p>
<table>
<tr><td>Instance</td><td><code>{{.Hostname}}</code></td></tr>
<tr><td>Host</td><td><code>{{.Host}}</code></td></tr>
<tr><td>X-Forwarded-For</td><td><code>{{.ForwardedFor}}</code></td></tr>
<tr><td>Time</td><td><code>{{.Time}}</code></td></tr>
</table>
</body></html>
`))

func newHandler(getenv func(string) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /dial", dialHandler)
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) { env(w, r, getenv) })
	mux.HandleFunc("GET /alloc", allocHandler)
	return mux
}

func index(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, map[string]string{
		"Hostname":     host,
		"Host":         r.Host,
		"ForwardedFor": r.Header.Get("X-Forwarded-For"),
		"Time":         time.Now().UTC().Format(time.RFC3339),
	})
}

// dialHandler tries a TCP connection to ?addr= and answers "ok" (200) or
// "error: ..." (502), so a test can see what the VM may reach.
func dialHandler(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("addr")
	if addr == "" {
		http.Error(w, "missing ?addr=host:port", http.StatusBadRequest)
		return
	}
	timeout := 2 * time.Second
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 && d <= 30*time.Second {
		timeout = d
	}
	res := dialResult(r.Context(), addr, timeout)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if res != "ok" {
		w.WriteHeader(http.StatusBadGateway)
	}
	w.Write([]byte(res + "\n"))
}

// env prints the variables named by ?k= (repeatable), one NAME=value a
// line; only what is asked for, never the whole environment.
func env(w http.ResponseWriter, r *http.Request, getenv func(string) string) {
	var b strings.Builder
	for _, k := range r.URL.Query()["k"] {
		b.WriteString(k + "=" + getenv(k) + "\n")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(b.String()))
}

// held is memory /alloc allocated and keeps, so that a test can watch an
// instance's memory grow on its host. Bounded: a visitor can make the app
// hold at most allocCapMiB.
var held struct {
	sync.Mutex
	blocks [][]byte
	mib    int
}

const allocCapMiB = 64

// allocHandler allocates ?mib= MiB (1 to 64), writes every page so it is
// resident, keeps it, and answers the total held.
func allocHandler(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("mib"))
	if err != nil || n < 1 || n > allocCapMiB {
		http.Error(w, fmt.Sprintf("give ?mib=1 to %d", allocCapMiB), http.StatusBadRequest)
		return
	}
	held.Lock()
	defer held.Unlock()
	if held.mib+n > allocCapMiB {
		http.Error(w, fmt.Sprintf("already holding %d MiB of at most %d", held.mib, allocCapMiB), http.StatusConflict)
		return
	}
	b := make([]byte, n<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	held.blocks = append(held.blocks, b)
	held.mib += n
	fmt.Fprintf(w, "holding %d MiB\n", held.mib)
}
