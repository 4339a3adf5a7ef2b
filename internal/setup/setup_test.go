package setup

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the dry runs")

// fakeBinaries writes a zeitwork binary and a guest init beside it, as a
// build leaves them, and returns the binary's path.
func fakeBinaries(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "zeitwork")
	for _, p := range []string{bin, filepath.Join(dir, "zeitwork-init")} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n# "+content+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func strp(s string) *string { return &s }

// roleOptions are a first set-up of each role, as the docs show it.
func roleOptions(role, root, bin string) Options {
	o := Options{Role: role, Root: root, Binary: bin}
	switch role {
	case "operator":
		o.LocalPostgres = true
		o.Args = strp("--listen 0.0.0.0:7070 --tls-name ctl.example.com --apps-domain apps.example.com")
	case "node":
		o.Operator, o.JoinToken, o.Region = "https://ctl.example.com:7070/", "zwj_nodesecret", "fra"
		o.Args = strp("--tunnel-addr 203.0.113.5:7443")
	case "edge":
		o.Operator, o.JoinToken = "https://ctl.example.com:7070", "zwj_edgesecret"
		o.Args = strp(`--listen 0.0.0.0:80 --access-log /var/log/zeitwork/edge/access.log`)
	case "lb", "dns":
		o.Config = filepath.Join("testdata", role+".json")
	}
	return o
}

func dryRun(t *testing.T, o Options) string {
	t.Helper()
	steps, err := Plan(o)
	if err != nil {
		t.Fatalf("plan %s: %v", o.Role, err)
	}
	var b bytes.Buffer
	Print(&b, steps)
	return strings.ReplaceAll(b.String(), filepath.Dir(o.Binary), "$BUILD")
}

// TestDryRunGolden pins each role's whole dry run: packages, commands,
// and every file's content.
func TestDryRunGolden(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	for _, role := range Roles {
		t.Run(role, func(t *testing.T) {
			got := dryRun(t, roleOptions(role, t.TempDir(), bin))
			golden := filepath.Join("testdata", role+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("dry run of %s differs from %s (go test -update to accept):\n%s", role, golden, got)
			}
		})
	}
}

// TestDryRunContents states what matters in each role's dry run, and that
// a dry run changes nothing.
func TestDryRunContents(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	common := []string{
		"Restart=on-failure", "RestartSec=5s", "NoNewPrivileges=yes", "LimitNOFILE=",
		"CacheDirectory=zeitwork/", "RuntimeDirectory=zeitwork/",
		"$ systemctl daemon-reload", "WantedBy=multi-user.target",
		"install $BUILD/zeitwork as /usr/local/bin/zeitwork (mode 0755)",
	}
	tests := []struct {
		role    string
		want    []string
		notWant []string
	}{
		{"operator", []string{
			"install packages: buildah runc postgresql",
			"apt-get install -y --no-install-recommends buildah runc postgresql",
			"CREATE ROLE zeitwork LOGIN PASSWORD '<new random password>'", "createdb -O zeitwork zeitwork",
			"write /etc/zeitwork/operator.env (mode 0600)", `ZEITWORK_SEAL_KEY="<secret, not shown>"`, `DATABASE_URL="<secret, not shown>"`,
			`ZEITWORK_ARGS="--listen 0.0.0.0:7070 --tls-name ctl.example.com --apps-domain apps.example.com"`,
			"ExecStart=/usr/local/bin/zeitwork operator --state-dir=/var/lib/zeitwork/operator --builds=${ZEITWORK_BUILDS} $ZEITWORK_ARGS",
			`ZEITWORK_BUILDS="true"`,
			"After=postgresql.service", "ProtectSystem=full", "ProtectHome=yes", "PrivateTmp=yes",
			"StateDirectory=zeitwork/operator", "$ systemctl restart zeitwork-operator.service",
		}, []string{"DynamicUser", "KillMode", "postgres://zeitwork:"}},
		{"node", []string{
			"apt-get install -y --no-install-recommends qemu-system-x86 nftables iproute2 e2fsprogs kmod",
			"install $BUILD/zeitwork-init as /usr/local/bin/zeitwork-init",
			"fetch the guest kernel into /var/cache/zeitwork/kernel",
			`ZEITWORK_OPERATOR="https://ctl.example.com:7070"`, `ZEITWORK_JOIN_TOKEN="<secret, not shown>"`, `ZEITWORK_REGION="fra"`,
			`ZEITWORK_ARGS="--tunnel-addr 203.0.113.5:7443"`,
			"ExecStart=/usr/local/bin/zeitwork node --operator=${ZEITWORK_OPERATOR} --region=${ZEITWORK_REGION} --state-dir=/var/lib/zeitwork/node --kernel-cache=/var/cache/zeitwork/kernel $ZEITWORK_ARGS",
			"KillMode=process", "StateDirectory=zeitwork/node", "CacheDirectory=zeitwork/kernel", "RuntimeDirectoryPreserve=yes",
			"$ systemctl enable zeitwork-node.service", "$ systemctl restart zeitwork-node.service",
		}, []string{"zwj_nodesecret", "ProtectSystem", "PrivateTmp", "ProtectHome", "DynamicUser", "postgresql"}},
		{"edge", []string{
			`ZEITWORK_OPERATOR="https://ctl.example.com:7070"`, `ZEITWORK_JOIN_TOKEN="<secret, not shown>"`,
			`ZEITWORK_ARGS="--listen 0.0.0.0:80 --access-log /var/log/zeitwork/edge/access.log"`,
			"ExecStart=/usr/local/bin/zeitwork edge --operator=${ZEITWORK_OPERATOR} --state-dir=/var/lib/zeitwork/edge $ZEITWORK_ARGS",
			"DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
			"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "SystemCallFilter=@system-service",
			"StateDirectory=zeitwork/edge", "LogsDirectory=zeitwork/edge",
		}, []string{"zwj_edgesecret", "install packages", "KillMode", "zeitwork-init", "ZEITWORK_REGION"}},
		{"lb", []string{
			"write /etc/zeitwork/lb.json (mode 0644)", `|   "region": "fra",`,
			"ExecStart=/usr/local/bin/zeitwork lb --config=/etc/zeitwork/lb.json $ZEITWORK_ARGS",
			"ExecReload=/bin/kill -HUP $MAINPID",
			"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=zeitwork/lb",
		}, []string{"install packages", "KillMode", "ZEITWORK_JOIN_TOKEN"}},
		{"dns", []string{
			"write /etc/zeitwork/dns.json (mode 0644)", `|   "zone": "apps.example.com",`,
			"ExecStart=/usr/local/bin/zeitwork dns --config=/etc/zeitwork/dns.json $ZEITWORK_ARGS",
			"ExecReload=/bin/kill -HUP $MAINPID",
			"DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "StateDirectory=zeitwork/dns",
		}, []string{"install packages", "KillMode", "ZEITWORK_JOIN_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			root := t.TempDir()
			out := dryRun(t, roleOptions(tt.role, root, bin))
			for _, w := range append(common, tt.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("dry run of %s lacks %q:\n%s", tt.role, w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("dry run of %s has %q:\n%s", tt.role, w, out)
				}
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("a dry run wrote %d entries under the root", len(ents))
			}
		})
	}
}
