package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
