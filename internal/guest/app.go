package guest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// maxLogLine splits longer output lines so one runaway line cannot grow the
// init's memory without bound.
const maxLogLine = 32 << 10

// app is the supervised process.
type app struct {
	cfg  *channel.Config
	cred Cred
	ctl  *controlPort
	logs *logWriter
}

// run starts the app, ships its output, forwards signals, reports when it
// listens, reaps every child (the init is PID 1, orphans land here) and
// returns the message that says how the app exited, once it has.
func (a *app) run() (*channel.Message, error) {
	chld := make(chan os.Signal, 16)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)

	pid, streams, err := a.start()
	if err != nil {
		return nil, err
	}
	if err := a.ctl.send(channel.Message{Kind: channel.KindStarted, PID: pid}); err != nil {
		consolef("%v", err)
	}
	done := make(chan struct{})
	defer close(done)
	go a.watchListening(done)
	go a.ctl.forwardSignals(pid)

	for range chld {
		if ws, exited := reap(pid); exited {
			waitTimeout(streams, 2*time.Second)
			return exitMessage(ws, oomKills()), nil
		}
	}
	return nil, errors.New("signal channel closed")
}

// start execs the app with its identity, directory and environment, and
// starts copying its stdout and stderr to the log port.
func (a *app) start() (int, *sync.WaitGroup, error) {
	dir := a.cfg.WorkingDir
	if dir == "" {
		dir = "/"
	}
	if err := ensureWorkDir(dir); err != nil {
		return 0, nil, err
	}
	env := appEnv(a.cfg.Env, a.cred.Home, a.cfg.Hostname)
	var argv0 string
	if len(a.cfg.Argv) > 0 {
		argv0 = a.cfg.Argv[0]
	}
	path, err := lookPath(argv0, envValue(env, "PATH"), dir, os.Stat)
	if err != nil {
		return 0, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("start app: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("start app: %w", err)
	}
	// The app may open its output again by name (/dev/stdout, which
	// nginx's images log to): the pipes must be its own, as runc makes
	// them, or an app that is not root gets "permission denied".
	for _, w := range []*os.File{outW, errW} {
		if err := w.Chown(int(a.cred.UID), int(a.cred.GID)); err != nil {
			return 0, nil, fmt.Errorf("start app: %w", err)
		}
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, fmt.Errorf("start app: %w", err)
	}
	defer devnull.Close()
	p, err := os.StartProcess(path, a.cfg.Argv, &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []*os.File{devnull, outW, errW},
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: &syscall.Credential{Uid: a.cred.UID, Gid: a.cred.GID, Groups: a.cred.Groups},
		},
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if why := explainExec("/", path, err); why != "" {
			return 0, nil, fmt.Errorf("exec %s: %w (%s)", argv0, err, why)
		}
		return 0, nil, fmt.Errorf("exec %s: %w", argv0, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.logs.copy("stdout", outR) }()
	go func() { defer wg.Done(); a.logs.copy("stderr", errR) }()
	return p.Pid, &wg, nil
}

// reap collects every exited child and reports whether pid was among them.
func reap(pid int) (syscall.WaitStatus, bool) {
	var appStatus syscall.WaitStatus
	exited := false
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err != nil || got <= 0 {
			return appStatus, exited
		}
		if got == pid {
			appStatus, exited = ws, true
		}
	}
}

// waitTimeout waits for the log copiers, but not forever: a daemon the app
// started may hold its stdout open.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
}

// listenPoll is how often the init checks whether the app listens, until
// it does. Each check takes the VM's only vCPU from the starting app for a
// moment, so not much more often: at 2 ms the app started no sooner in
// the benchmark, however soon the check noticed it. Readiness is the
// host's own check (the node's health probe); this is the guest's figure.
const listenPoll = 10 * time.Millisecond

// otherPortGrace is how long the app may listen elsewhere (a metrics or
// admin port first) before the init says it does not listen on $PORT.
const otherPortGrace = 3 * time.Second

// watchListening polls until something others can reach listens on the
// app's port, then tells the host once. Without sock_diag (a kernel
// without tcp_diag) it reads /proc/net/tcp{,6}. An app listening on
// loopback only, for IPv6 only, or after otherPortGrace on another port only, is told so
// in its own log, once each, and the host too: its health check cannot
// reach the app, and "did not listen" alone would puzzle its author.
func (a *app) watchListening(done <-chan struct{}) {
	if a.cfg.Port <= 0 {
		return
	}
	check := func(port int) listeners { return listeners{reachable: procListening(port)} }
	var probe *listenProbe
	if p, err := newListenProbe(); err == nil {
		defer p.close()
		probe = p
		check = func(port int) listeners {
			l, err := p.listeners(port)
			if err != nil && procListening(port) {
				l.reachable = true
			}
			return l
		}
	}
	t := time.NewTicker(listenPoll)
	defer t.Stop()
	otherAfter := time.Now().Add(otherPortGrace)
	nextScan := otherAfter
	warnedLoopback, warnedV6Only, warnedOther := false, false, false
	for {
		l := check(a.cfg.Port)
		if l.reachable {
			break
		}
		if l.loopback != "" && !warnedLoopback {
			warnedLoopback = true
			a.warnLoopback(l.loopback)
		}
		if l.v6only != "" && !warnedV6Only {
			warnedV6Only = true
			a.warnV6Only(l.v6only)
		}
		if now := time.Now(); probe != nil && !warnedOther && now.After(nextScan) {
			nextScan = now.Add(time.Second) // a dump of every listener: not every tick
			if other, ok, _ := probe.elsewhere(a.cfg.Port); ok {
				warnedOther = true
				a.warnOtherPort(other)
			}
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
	a.ctl.send(channel.Message{Kind: channel.KindListening, UptimeMS: uptimeMS()})
}

// warnLoopback tells the app's author, in its log, and the host that the
// app listens where only the VM itself can connect.
func (a *app) warnLoopback(ip string) {
	addr := net.JoinHostPort(ip, strconv.Itoa(a.cfg.Port))
	a.logs.write("stderr", []byte(fmt.Sprintf("zeitwork: the app listens on %s, on loopback only, where nothing outside its VM can reach it: "+
		"listen on 0.0.0.0:%d or [::]:%d (the port is in $PORT)", addr, a.cfg.Port, a.cfg.Port)))
	a.ctl.send(channel.Message{Kind: channel.KindLoopback, Address: addr})
}

// warnV6Only tells the app's author and the host that the app listens on
// an IPv6 socket with IPV6_V6ONLY, which takes no IPv4 connections: the
// host's health check and the edge connect over IPv4.
func (a *app) warnV6Only(ip string) {
	addr := net.JoinHostPort(ip, strconv.Itoa(a.cfg.Port))
	a.logs.write("stderr", []byte(fmt.Sprintf("zeitwork: the app listens on %s for IPv6 only, where the platform cannot reach it over IPv4: "+
		"listen on 0.0.0.0:%d too or turn off ipv6only (nginx: listen [::]:%d ipv6only=off; or add listen %d;)", addr, a.cfg.Port, a.cfg.Port, a.cfg.Port)))
	a.ctl.send(channel.Message{Kind: channel.KindIPv6Only, Address: addr})
}

// warnOtherPort tells the app's author and the host that the app listens,
// but not (yet) on its port.
func (a *app) warnOtherPort(at netip.AddrPort) {
	a.logs.write("stderr", []byte(fmt.Sprintf("zeitwork: the app listens on %s but not (yet) on its port %d: "+
		"make it listen on $PORT, or set the project's port to %d", at, a.cfg.Port, at.Port())))
	a.ctl.send(channel.Message{Kind: channel.KindOtherPort, Address: at.String()})
}

// procListening reads /proc/net/tcp and tcp6 for a listener on port.
func procListening(port int) bool {
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err == nil && listensOn(b, port) {
			return true
		}
	}
	return false
}

// logWriter frames output lines as LogLines on the log port.
type logWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logWriter) copy(stream string, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			l.write(stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (l *logWriter) write(stream string, line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	b, err := marshalLogLine(channel.LogLine{Stream: stream, Time: time.Now().UTC(), Text: string(line)})
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(b); err != nil {
		consolef("write log: %v", err)
	}
}
