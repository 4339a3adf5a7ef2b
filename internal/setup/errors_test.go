package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanErrors: each refusal says what was wrong and what to do.
func TestPlanErrors(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	noInit := filepath.Join(t.TempDir(), "zeitwork")
	os.WriteFile(noInit, []byte("x"), 0o755)
	bad := filepath.Join(t.TempDir(), "lb.json")
	os.WriteFile(bad, []byte(`{"region": ""}`), 0o644)
	tests := []struct {
		name      string
		o         Options
		msg, hint string
	}{
		{"unknown role", Options{Role: "web"}, `unknown role "web"`, "operator, node, edge, lb, dns"},
		{"node without join token", Options{Role: "node", Operator: "https://op"}, "a join token is required", "zeitwork nodes join-token; then pass it with --join-token"},
		{"edge without join token", Options{Role: "edge", Operator: "https://op"}, "a join token is required", "zeitwork nodes join-token --role edge"},
		{"node without operator", Options{Role: "node", JoinToken: "zwj_x"}, "--operator is required", "--operator https://"},
		{"operator without database", Options{Role: "operator"}, "needs a PostgreSQL database", "--local-postgres"},
		{"node to an operator in clear", Options{Role: "node", Operator: "http://203.0.113.9:7070", JoinToken: "zwj_x"}, "plain HTTP to another machine", "--tls-name 203.0.113.9"},
		{"edge to an operator that is no URL", Options{Role: "edge", Operator: "ctl.example.com", JoinToken: "zwj_x"}, "is not an http(s) URL", "--operator https://"},
		{"operator API in clear on the network", Options{Role: "operator", LocalPostgres: true, Args: strp("--listen 0.0.0.0:7070")}, "in plain HTTP", "--tls-name"},
		{"operator API in clear, --listen=", Options{Role: "operator", LocalPostgres: true, Args: strp("--listen=[::]:7070 --apps-domain a.example")}, "in plain HTTP", "--tls-name"},
		{"lb without config", Options{Role: "lb"}, "needs its JSON configuration", "docs/operations.md"},
		{"dns without config", Options{Role: "dns"}, "needs its JSON configuration", "GeoDNS"},
		{"lb with a bad config", Options{Role: "lb", Config: bad}, bad, "zeitwork lb --check"},
		{"node without guest init", Options{Role: "node", Operator: "https://op", JoinToken: "zwj_x", Binary: noInit}, "guest init zeitwork-init is missing", "make build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Root = t.TempDir()
			if tt.o.Binary == "" {
				tt.o.Binary = bin
			}
			_, err := Plan(tt.o)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a setup.Error", err)
			}
			if !strings.Contains(se.Msg, tt.msg) || !strings.Contains(se.Hint, tt.hint) {
				t.Errorf("got %q (hint %q), want %q (hint %q)", se.Msg, se.Hint, tt.msg, tt.hint)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	debian := write("debian", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
	ubuntu := write("ubuntu", "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n")
	mint := write("mint", "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n")
	fedora := write("fedora", "NAME=\"Fedora Linux\"\nID=fedora\n")
	tests := []struct {
		name     string
		path     string
		euid     int
		needRoot bool
		msg      string
	}{
		{"debian as root", debian, 0, true, ""},
		{"ubuntu as root", ubuntu, 0, true, ""},
		{"ubuntu derivative", mint, 0, true, ""},
		{"not root", debian, 1000, true, "must run as root"},
		{"dry run as a user", debian, 1000, false, ""},
		{"fedora", fedora, 0, true, `supports Debian and Ubuntu, not "fedora"`},
		{"no os-release", filepath.Join(dir, "missing"), 0, true, "cannot tell the operating system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHost(tt.path, tt.euid, tt.needRoot)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || !strings.Contains(se.Msg, tt.msg) || se.Hint == "" {
				t.Errorf("err = %v, want %q with a hint", err, tt.msg)
			}
		})
	}
}

// TestEnvRoundTrip: values with quotes, backslashes and spaces read back
// as written (systemd's EnvironmentFile takes the same escapes).
func TestEnvRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.env")
	vars := []envVar{{Key: "A", Value: `say "hi" \ there`}, {Key: "B", Value: ""}, {Key: "C", Value: "k=v", Secret: true}}
	os.WriteFile(p, []byte(renderEnv("# head\n", vars, false)), 0o600)
	got := readEnv(p)
	for _, v := range vars {
		if got[v.Key] != v.Value {
			t.Errorf("%s = %q, want %q", v.Key, got[v.Key], v.Value)
		}
	}
	if s := renderEnv("", vars, true); strings.Contains(s, "k=v") || !strings.Contains(s, `C="<secret, not shown>"`) {
		t.Errorf("redacted: %s", s)
	}
}

// TestPlainHTTPOnLoopback: one machine running several roles may use
// plain HTTP to the operator; only a link between machines needs TLS.
func TestPlainHTTPOnLoopback(t *testing.T) {
	bin := fakeBinaries(t, "v1")
	for _, o := range []Options{
		{Role: "node", Operator: "http://127.0.0.1:7070", JoinToken: "zwj_x"},
		{Role: "edge", Operator: "http://localhost:7070", JoinToken: "zwj_x"},
		{Role: "operator", LocalPostgres: true, Args: strp("--listen 127.0.0.1:7070")},
		{Role: "operator", LocalPostgres: true, Args: strp("--listen 0.0.0.0:7070 --tls-name=ctl.example.com")},
	} {
		o.Root, o.Binary = t.TempDir(), bin
		if _, err := Plan(o); err != nil {
			t.Errorf("%s %+v: %v", o.Role, o, err)
		}
	}
}
