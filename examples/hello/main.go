// Command hello is the sample app that `zeitwork up` deploys: a static HTTP
// server on $PORT (default 8080). Besides its page it has switches that the
// platform's tests use to play a misbehaving app:
//
//	-crash       exit 1 at once, with a message on stderr
//	-no-listen   run but never listen
//	-dial ADDR   try a TCP connection to ADDR at start and log the result
//	-flood D     once listening, write log lines as fast as it can for D,
//	             then, a second later, "hello: flood over"
//
// and endpoints /healthz, /dial?addr=HOST:PORT (a TCP connect from inside
// the VM, to test network isolation) and /env?k=NAME (selected variables).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main with its inputs passed in, for tests. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(stderr)
	crash := fs.Bool("crash", false, "exit 1 immediately")
	noListen := fs.Bool("no-listen", false, "run without ever listening")
	dial := fs.String("dial", "", "try a TCP connection to this address at start")
	flood := fs.Duration("flood", 0, "write log lines as fast as possible for this long once listening")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *crash {
		fmt.Fprintln(stderr, "hello: crashing on purpose (-crash)")
		return 1
	}
	if *dial != "" {
		fmt.Fprintf(stdout, "dial %s: %s\n", *dial, dialResult(ctx, *dial, 2*time.Second))
	}
	if *noListen {
		fmt.Fprintln(stdout, "hello: running without listening (-no-listen)")
		<-ctx.Done()
		return 0
	}
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintf(stderr, "hello: listen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "hello: listening on %s\n", ln.Addr())
	if *flood > 0 {
		go floodLog(stdout, *flood)
	}
	return serve(ctx, ln, getenv, stderr)
}

func serve(ctx context.Context, ln net.Listener, getenv func(string) string, stderr io.Writer) int {
	srv := &http.Server{Handler: newHandler(getenv), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "hello: serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	// A graceful stop: the platform sends SIGTERM before it powers off.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "hello: shutdown: %v\n", err)
		return 1
	}
	return 0
}

func dialResult(ctx context.Context, addr string, timeout time.Duration) string {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "error: " + err.Error()
	}
	conn.Close()
	return "ok"
}

// floodLog plays an app that logs as fast as it can: a hostile or broken
// guest the node must keep from filling its disk and the database.
func floodLog(w io.Writer, d time.Duration) {
	line := []byte("hello: flood " + strings.Repeat("x", 100) + "\n")
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 100 {
			w.Write(line)
		}
	}
	// After a pause, as an app's next output would come: rate limits
	// have room again.
	time.Sleep(time.Second)
	fmt.Fprintln(w, "hello: flood over")
}
