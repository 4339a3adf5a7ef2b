// Command app is the program the qemu driver's tests boot in a VM. "report"
// prints what the guest init set up and exits with $EXIT_CODE; "serve"
// answers HTTP on $PORT until SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
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
	case "oom":
		oom()
	}
}

func report() {
	if os.Getenv("LISTEN_LOOPBACK") != "" {
		listenLoopback()
	}
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
	runtimeChecks(host)
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

// listenLoopback listens on 127.0.0.1:$PORT and on [::]:$PORT for IPv6
// only, where the host cannot reach it, and on another port, until the host, told so by the init, sends
// SIGUSR1.
func listenLoopback() {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Println("check loopback-listen=" + err.Error())
		return
	}
	defer ln.Close()
	// One on [::]:$PORT for IPv6 only ("tcp6" sets IPV6_V6ONLY), which the
	// host's IPv4 health check cannot reach either.
	v6, err := net.Listen("tcp6", "[::]:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Println("check loopback-listen=" + err.Error())
		return
	}
	defer v6.Close()
	// And one others can reach, on another port than $PORT.
	other, err := net.Listen("tcp", ":9999")
	if err != nil {
		fmt.Println("check loopback-listen=" + err.Error())
		return
	}
	defer other.Close()
	select {
	case <-usr1:
		fmt.Println("check loopback-listen=ok")
	case <-time.After(30 * time.Second):
		fmt.Println("check loopback-listen=no SIGUSR1 within 30s")
	}
}

// runtimeChecks prints "check NAME=ok" (or what went wrong) for what an
// app built for a container runtime takes for granted.
func runtimeChecks(host string) {
	check := func(name string, err error) {
		res := "ok"
		if err != nil {
			res = err.Error()
		}
		fmt.Printf("check %s=%s\n", name, res)
	}
	check("tmp", writeIn(os.TempDir()))
	check("dev-shm", writeIn("/dev/shm"))
	check("dev-null", writeTo("/dev/null"))
	check("dev-zero", readFrom("/dev/zero"))
	check("dev-urandom", readFrom("/dev/urandom"))
	check("dev-ptmx", readPtmx())
	check("dev-stdout", writeTo("/dev/stdout"))
	check("dev-fd", stat("/dev/fd/1"))
	check("proc", stat("/proc/self/status"))
	check("sys", stat("/sys/class/net/lo"))
	check("image-run", stat("/run/app/marker"))
	check("hosts-localhost", resolves("localhost", "127.0.0.1"))
	check("hosts-hostname", resolves(host, ""))
	// A Go program raises its own soft limit to the hard one at start: the
	// limit every app inherits is the init's.
	limits, _ := os.ReadFile("/proc/1/limits")
	for _, l := range strings.Split(string(limits), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max open files"); ok {
			fmt.Printf("nofile=%s\n", strings.Join(strings.Fields(rest), " "))
		}
	}
}

func writeIn(dir string) error {
	f, err := os.CreateTemp(dir, "check-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString("x")
	return errors.Join(err, f.Close())
}

func writeTo(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("written to " + path + "\n")
	return errors.Join(err, f.Close())
}

func readFrom(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.ReadFull(f, make([]byte, 16))
	return err
}

func readPtmx() error {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPTN)
	if err != nil {
		return err
	}
	_, err = os.Stat(fmt.Sprintf("/dev/pts/%d", n))
	return err
}

func stat(path string) error {
	_, err := os.Stat(path)
	return err
}

// resolves checks that name resolves without DNS (from /etc/hosts), to
// want when given.
func resolves(name, want string) error {
	addrs, err := net.LookupHost(name)
	if err != nil {
		return err
	}
	if want != "" && !slices.Contains(addrs, want) {
		return fmt.Errorf("%s resolves to %v, want %s", name, addrs, want)
	}
	return nil
}

// oom touches memory until the kernel's out-of-memory killer ends it.
func oom() {
	var keep [][]byte
	for {
		b := make([]byte, 8<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		fmt.Printf("holding %d MiB\n", 8*len(keep))
	}
}
