// Command app is the program the qemu driver's tests boot in a VM. "report"
// prints what the guest init set up and exits with $EXIT_CODE; "serve"
// answers HTTP on $PORT until SIGTERM.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: app report|serve")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "report":
		report()
	case "serve":
		serve()
	case "identity":
		identity()
	case "spawn-orphan":
		spawnOrphan()
	case "orphan":
		time.Sleep(100 * time.Millisecond)
	}
}

func report() {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	fmt.Printf("argv=%s\n", strings.Join(os.Args, ","))
	fmt.Printf("uid=%d gid=%d groups=%v\n", os.Getuid(), os.Getgid(), must(os.Getgroups()))
	fmt.Printf("hostname=%s\n", host)
	fmt.Printf("cwd=%s\n", wd)
	fmt.Printf("unixtime=%d\n", time.Now().Unix())
	for _, kv := range os.Environ() {
		fmt.Printf("env %s\n", kv)
	}
	fmt.Printf("orphan=%s\n", orphanFate())
	fmt.Fprintln(os.Stderr, "to stderr")
	code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
	os.Exit(code)
}

func serve() {
	host, _ := os.Hostname()
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println("got SIGTERM")
		srv.Shutdown(context.Background())
	}()
	fmt.Println("listening on", srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// identity answers HTTP with what makes this VM itself: hostname, MAC,
// eth0's addresses, 16 bytes from getrandom drawn at start, the clock, an
// env var and the marker file of its root disk.
func identity() {
	host, _ := os.Hostname()
	mac, _ := os.ReadFile("/sys/class/net/eth0/address")
	marker, _ := os.ReadFile("/marker")
	random := make([]byte, 16)
	if _, err := unix.Getrandom(random, 0); err != nil {
		fmt.Fprintln(os.Stderr, "getrandom:", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hostname=%s\nmac=%s\naddrs=%s\nrandom=%x\nunixtime=%d\ngreeting=%s\nmarker=%s\n",
			host, strings.TrimSpace(string(mac)), ethAddrs(), random, time.Now().Unix(), os.Getenv("GREETING"), strings.TrimSpace(string(marker)))
	})}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ethAddrs lists eth0's addresses (IPv4 and IPv6), comma-separated.
func ethAddrs() string {
	eth, err := net.InterfaceByName("eth0")
	if err != nil {
		return "error: " + err.Error()
	}
	addrs, err := eth.Addrs()
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, ",")
}

func must[T any](v T, _ error) T { return v }

// orphanFate makes a process whose parent exits first, so that it is
// re-parented to the init, and reports whether the init reaped it.
func orphanFate() string {
	out, err := exec.Command("/proc/self/exe", "spawn-orphan").Output()
	if err != nil {
		return "spawn failed: " + err.Error()
	}
	stat := "/proc/" + strings.TrimSpace(string(out)) + "/stat"
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(stat); os.IsNotExist(err) {
			return "reaped"
		}
	}
	return "zombie"
}

// spawnOrphan starts a short-lived child, prints its pid and exits without
// waiting for it.
func spawnOrphan() {
	c := exec.Command("/proc/self/exe", "orphan")
	if err := c.Start(); err != nil {
		os.Exit(1)
	}
	fmt.Println(c.Process.Pid)
}
