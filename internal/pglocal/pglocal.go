// Package pglocal runs a private PostgreSQL cluster for `zeitwork up` and for
// tests: initdb on first use, postgres on a unix socket only (no TCP port is
// opened), and a clean stop. Debian's initdb and postgres refuse to run as
// root, so both run as the `postgres` system user.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running PostgreSQL server.
type Cluster struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
	log  *slog.Logger
	// URL connects to the "zeitwork" database over the unix socket.
	URL string
}

// BinDir finds Debian's PostgreSQL binaries (newest major version first),
// which are not on PATH.
func BinDir() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("postgresql server binaries not found: install them with `apt-get install postgresql`")
}

func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start initialises dir on first use and starts the server. The caller must
// Stop it.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgresql needs the postgres system user: %w", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}

	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "run")
	for _, d := range []string{dir, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return nil, err
		}
	}
	// The server must be able to reach its directory through every parent.
	if err := ensureTraversable(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s: %w: %s", data, err, strings.TrimSpace(string(out)))
		}
	}
	stopStale(data)

	logFile, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{dir: dir, cmd: cmd, done: make(chan error, 1), log: log}
	go func() { c.done <- cmd.Wait() }()
	c.URL = fmt.Sprintf("postgres://postgres@/zeitwork?host=%s", sock)
	if err := c.waitReady(ctx, sock); err != nil {
		c.Stop()
		return nil, err
	}
	log.Info("postgresql started", "dir", dir)
	return c, nil
}

func (c *Cluster) waitReady(ctx context.Context, sock string) error {
	admin := fmt.Sprintf("postgres://postgres@/postgres?host=%s", sock)
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "CREATE DATABASE zeitwork")
			if err != nil && !strings.Contains(err.Error(), "already exists") {
				return fmt.Errorf("create database: %w", err)
			}
			return nil
		}
		select {
		case exitErr := <-c.done:
			c.done <- exitErr
			return fmt.Errorf("postgres exited at start (%v); see %s", exitErr, filepath.Join(c.dir, "postgres.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30s: %w", err)
		}
	}
}

// Stop shuts the server down (fast shutdown) and waits for it.
func (c *Cluster) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	c.log.Info("postgresql stopped")
}

// stopStale stops a postgres left running on data by a process that died
// without stopping it, so that no server outlives its owner for long.
func stopStale(data string) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return
	}
	if syscall.Kill(pid, syscall.SIGINT) != nil {
		return
	}
	for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func ensureTraversable(dir string) error {
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("make %s traversable for postgres: %w", d, err)
			}
		}
	}
	return nil
}
