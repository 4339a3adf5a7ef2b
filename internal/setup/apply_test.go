package setup

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// setUp sets o up below its root.
func setUp(t *testing.T, o Options) {
	t.Helper()
	steps, err := Plan(o)
	if err != nil {
		t.Fatalf("plan %s: %v", o.Role, err)
	}
	if err := Apply(context.Background(), io.Discard, o.Root, steps); err != nil {
		t.Fatalf("apply %s: %v", o.Role, err)
	}
}

// verifyUnit runs systemd-analyze verify on a unit. verify needs the
// ExecStart binary to exist on this host, so the unit is checked as a copy
// whose ExecStart names the binary installed below root. Any message
// counts as a failure: verify exits 0 on unknown keys and bad values.
func verifyUnit(t *testing.T, root, unit string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, UnitDir, unit))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "ExecStart="+BinDir+"/", "ExecStart="+filepath.Join(root, BinDir)+"/")
	path := filepath.Join(t.TempDir(), unit)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil && len(out) == 0 {
		out = []byte(err.Error())
	}
	return string(out)
}

// TestUnitsVerify writes each role's files below a temporary root and
// checks its unit with systemd-analyze verify.
func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing: run scripts/install-deps.sh (package systemd)")
	}
	bin := fakeBinaries(t, "v1")
	for _, role := range Roles {
		t.Run(role, func(t *testing.T) {
			root := t.TempDir()
			setUp(t, roleOptions(role, root, bin))
			if out := verifyUnit(t, root, unitName(role)); out != "" {
				t.Errorf("systemd-analyze verify %s:\n%s", unitName(role), out)
			}
		})
	}
	// The check itself must catch a bad unit.
	t.Run("bad unit", func(t *testing.T) {
		root := t.TempDir()
		setUp(t, roleOptions("node", root, bin))
		p := filepath.Join(root, UnitDir, unitName("node"))
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte("KillMode=process"), []byte("KillMode=sometimes"), 1), 0o644)
		if out := verifyUnit(t, root, unitName("node")); !strings.Contains(out, "sometimes") {
			t.Errorf("verify passed a unit with KillMode=sometimes: %q", out)
		}
	})
}

// TestApplyFiles checks what a set-up leaves below the root: the binary,
// the settings readable only by root, and the unit.
func TestApplyFiles(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	root := t.TempDir()
	setUp(t, roleOptions("node", root, bin))
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{BinDir + "/zeitwork", 0o755},
		{BinDir + "/zeitwork-init", 0o755},
		{envPath("node"), 0o600},
		{UnitDir + "/zeitwork-node.service", 0o644},
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
	}
	env := readEnv(filepath.Join(root, envPath("node")))
	if env["ZEITWORK_JOIN_TOKEN"] != "zwj_nodesecret" || env["ZEITWORK_OPERATOR"] != "https://ctl.example.com:7070" ||
		env["ZEITWORK_REGION"] != "fra" || env["ZEITWORK_ARGS"] != "--tunnel-addr 203.0.113.5:7443" {
		t.Errorf("node.env = %v", env)
	}
	got, _ := os.ReadFile(filepath.Join(root, BinDir, "zeitwork"))
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(got, want) {
		t.Error("installed binary differs from the source")
	}
	edge := roleOptions("edge", root, bin)
	setUp(t, edge)
	if v := readEnv(filepath.Join(root, envPath("edge")))["ZEITWORK_ARGS"]; v != `--listen 0.0.0.0:80 --access-log /var/log/zeitwork/edge/access.log` {
		t.Errorf("quoted ZEITWORK_ARGS read back as %q", v)
	}
}

// TestUpgrade runs setup again: settings not given again are kept (the
// operator's seal key above all), an identical binary is left alone, a
// new one replaces it, and the output says a node's VMs keep running.
func TestUpgrade(t *testing.T) {
	v1 := fakeBinaries(t, "v1")
	root := t.TempDir()
	setUp(t, roleOptions("operator", root, v1))
	first := readEnv(filepath.Join(root, envPath("operator")))
	if len(first["ZEITWORK_SEAL_KEY"]) != 44 || !strings.HasPrefix(first["DATABASE_URL"], "postgres://zeitwork:") {
		t.Fatalf("operator.env = %v", first)
	}
	again := Options{Role: "operator", Root: root, Binary: v1}
	steps, err := Plan(again)
	if err != nil {
		t.Fatal(err)
	}
	if steps[1].Skip == "" || !strings.Contains(steps[1].Title, "/usr/local/bin/zeitwork") {
		t.Errorf("an identical binary is installed again: %+v", steps[1])
	}
	for _, s := range steps {
		if strings.Contains(s.Title, "PostgreSQL role") {
			t.Error("the database is made again although operator.env names one")
		}
	}
	setUp(t, again)
	second := readEnv(filepath.Join(root, envPath("operator")))
	for _, k := range []string{"ZEITWORK_SEAL_KEY", "DATABASE_URL", "ZEITWORK_ARGS", "ZEITWORK_BUILDS"} {
		if second[k] != first[k] {
			t.Errorf("%s changed on upgrade: %q -> %q", k, first[k], second[k])
		}
	}
	if n := strings.Join(Notes(again), "\n"); !strings.Contains(n, "upgrade: the binary is replaced and zeitwork-operator.service restarted") {
		t.Errorf("notes: %s", n)
	}

	// A node upgraded with a new build, after it enrolled: no join token
	// or operator needed, the binary is replaced and the unit restarted.
	setUp(t, roleOptions("node", root, v1))
	cred := filepath.Join(root, stateDir("node"), "node", "node.json")
	os.MkdirAll(filepath.Dir(cred), 0o700)
	os.WriteFile(cred, []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(root, envPath("node")), []byte("ZEITWORK_OPERATOR=\"https://ctl.example.com:7070\"\nZEITWORK_REGION=\"fra\"\n"), 0o600)
	v2 := fakeBinaries(t, "v2")
	node := Options{Role: "node", Root: root, Binary: v2}
	steps, err = Plan(node)
	if err != nil {
		t.Fatalf("upgrade of an enrolled node: %v", err)
	}
	var b bytes.Buffer
	Print(&b, steps)
	if !strings.Contains(b.String(), "install "+v2+" as /usr/local/bin/zeitwork") || strings.Contains(b.String(), "skipped: the same file") {
		t.Errorf("new binaries are not installed:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "$ systemctl restart zeitwork-node.service") || !strings.Contains(b.String(), `ZEITWORK_REGION="fra"`) {
		t.Errorf("upgrade does not restart the unit or loses the region:\n%s", b.String())
	}
	n := strings.Join(Notes(node), "\n")
	if !strings.Contains(n, "upgrade:") || !strings.Contains(n, "running VMs keep running") || !strings.Contains(n, "KillMode=process") {
		t.Errorf("notes: %s", n)
	}
	setUp(t, node)
	if got, _ := os.ReadFile(filepath.Join(root, BinDir, "zeitwork")); !strings.Contains(string(got), "v2") {
		t.Error("binary not replaced")
	}
}

// An operator set up without builds gets neither buildah nor runc, starts
// with --builds=false, and keeps that on an upgrade that does not say.
func TestOperatorWithoutBuilds(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	root := t.TempDir()
	no := false
	o := Options{Role: "operator", Root: root, Binary: bin, DatabaseURL: "postgres://db.example.com/zeitwork", Builds: &no}
	for _, run := range []Options{o, {Role: "operator", Root: root, Binary: bin}} {
		steps, err := Plan(run)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		Print(&b, steps)
		if strings.Contains(b.String(), "install packages") || !strings.Contains(b.String(), `ZEITWORK_BUILDS="false"`) {
			t.Errorf("operator without builds:\n%s", b.String())
		}
		setUp(t, run)
	}
	env := readEnv(filepath.Join(root, envPath("operator")))
	if env["DATABASE_URL"] != "postgres://db.example.com/zeitwork" || env["ZEITWORK_BUILDS"] != "false" {
		t.Errorf("operator.env = %v", env)
	}
}
