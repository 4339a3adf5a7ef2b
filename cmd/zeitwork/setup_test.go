package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/cli"
)

// `zeitwork setup node --dry-run` prints the steps and notes and changes
// nothing; `--root` writes the files there; a wrong role is refused with
// the roles to choose from.
func TestSetupCommand(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "zeitwork")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "zeitwork-init"), []byte("init"), 0o755)
	root := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := setupCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--binary", bin, "--root", root))
		err := cmd.Execute()
		return out.String(), err
	}
	node := []string{"node", "--operator", "https://ctl.example.com:7070", "--join-token", "zwj_secret", "--region", "fra"}
	out, err := run(append(node, "--dry-run")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"dry run, nothing is changed", "KillMode=process", "$ systemctl restart zeitwork-node.service", "note: running VMs keep running"} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("--dry-run wrote under the root")
	}
	if out, err = run(node...); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "skipped under --root") {
		t.Errorf("commands are not skipped under --root:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/zeitwork-node.service")); err != nil {
		t.Fatal(err)
	}
	// Again, after enrolling: an upgrade.
	os.MkdirAll(filepath.Join(root, "var/lib/zeitwork/node/node"), 0o700)
	os.WriteFile(filepath.Join(root, "var/lib/zeitwork/node/node/node.json"), []byte("{}"), 0o600)
	if out, err = run("node", "--dry-run"); err != nil || !strings.Contains(out, "note: upgrade:") {
		t.Errorf("upgrade: %v\n%s", err, out)
	}

	_, err = run("web", "--dry-run")
	var ue *cli.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, `unknown role "web"`) || !strings.Contains(ue.Hint, "operator, node, edge, lb, dns") {
		t.Errorf("unknown role: %v", err)
	}
	_, err = run("edge", "--operator", "https://op", "--dry-run")
	if !errors.As(err, &ue) || !strings.Contains(ue.Hint, "zeitwork nodes join-token --role edge") {
		t.Errorf("edge without a join token: %v", err)
	}
}

// Each unit's ExecStart, with its settings filled in, is a command line the
// role's own command accepts: a renamed or removed flag fails here rather
// than in a crash-looping service.
func TestSetupExecStartParses(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "zeitwork")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "zeitwork-init"), []byte("init"), 0o755)
	roles := map[string]struct {
		setup []string
		cmd   func() *cobra.Command
	}{
		"operator": {[]string{"--database-url", "postgres://x@127.0.0.1/x", "--args", "--listen 0.0.0.0:7070 --tls-name ctl.example.com"}, operatorCmd},
		"node":     {[]string{"--operator", "https://op", "--join-token", "zwj_x", "--region", "fra", "--args", "--tunnel-addr 10.0.0.5:7443"}, nodeCmd},
		"edge":     {[]string{"--operator", "https://op", "--join-token", "zwj_x", "--args", "--listen 0.0.0.0:80 --https-listen 0.0.0.0:443"}, edgeCmd},
		"lb":       {[]string{"--config", "../../internal/setup/testdata/lb.json"}, lbCmd},
		"dns":      {[]string{"--config", "../../internal/setup/testdata/dns.json"}, dnsCmd},
	}
	for role, r := range roles {
		t.Run(role, func(t *testing.T) {
			root := t.TempDir()
			cmd := setupCmd()
			cmd.SetOut(io.Discard)
			cmd.SetArgs(append([]string{role, "--binary", bin, "--root", root}, r.setup...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/zeitwork-"+role+".service"))
			env := readSettings(t, filepath.Join(root, "etc/zeitwork", role+".env"))
			var line string
			for _, l := range strings.Split(string(unit), "\n") {
				if s, ok := strings.CutPrefix(l, "ExecStart="); ok {
					line = s
				}
			}
			args := expandExecStart(line, env)
			if len(args) < 2 || args[0] != "/usr/local/bin/zeitwork" || args[1] != role {
				t.Fatalf("ExecStart %q", line)
			}
			if err := r.cmd().ParseFlags(args[2:]); err != nil {
				t.Errorf("zeitwork %s refuses its unit's flags %q: %v", role, args[2:], err)
			}
		})
	}
}

// expandExecStart expands a unit's command line as systemd does for the
// forms the units use: ${VAR} within a word, and $VAR alone split at
// whitespace.
func expandExecStart(line string, env map[string]string) []string {
	var out []string
	for _, w := range strings.Fields(line) {
		if name, ok := strings.CutPrefix(w, "$"); ok && !strings.HasPrefix(name, "{") {
			out = append(out, strings.Fields(env[name])...)
			continue
		}
		out = append(out, os.Expand(w, func(k string) string { return env[k] }))
	}
	return out
}

func readSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		env[k], _ = strconv.Unquote(v)
	}
	return env
}
