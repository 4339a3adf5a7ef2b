package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// runStdin is run with stdin.
func runStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestRegistryCommands(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	mustRun(t, "projects", "create", "web")
	set := []string{"registry", "set", "web", "--host", "registry.example.com", "--username", "alice"}

	if _, err := runStdin(t, "tok-SECRET\n", set...); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("set without --password-stdin: %v", err)
	}
	if _, err := runStdin(t, "", append(set, "--password-stdin")...); err == nil || !strings.Contains(err.Error(), "no password on stdin") {
		t.Fatalf("set with empty stdin: %v", err)
	}
	bad := []string{"registry", "set", "web", "--host", "https://registry.example.com", "--username", "alice", "--password-stdin"}
	if _, err := runStdin(t, "tok-SECRET\n", bad...); err == nil || !strings.Contains(err.Error(), "invalid registry host") {
		t.Fatalf("set with a bad host: %v", err)
	}
	out, err := runStdin(t, "tok-SECRET\n", append(set, "--password-stdin", "--repository", "registry.example.com/acme/web")...)
	if err != nil || !strings.Contains(out, "Builds of web are pushed to registry.example.com/acme/web") {
		t.Fatalf("set: %v\n%s", err, out)
	}

	out = mustRun(t, "registry", "show", "web")
	if !strings.Contains(out, "HOST") || !strings.Contains(out, "registry.example.com") || !strings.Contains(out, "alice") || strings.Contains(out, "SECRET") {
		t.Fatalf("show:\n%s", out)
	}
	var r api.RegistryCredentials
	if err := json.Unmarshal([]byte(mustRun(t, "registry", "show", "web", "--json")), &r); err != nil ||
		r.Host != "registry.example.com" || r.Repository != "registry.example.com/acme/web" || r.Password != "" {
		t.Fatalf("show --json: %+v %v", r, err)
	}

	mustRun(t, "registry", "remove", "web")
	if _, err := run(t, "registry", "show", "web"); err == nil || !strings.Contains(err.Error(), "zeitwork registry set web") {
		t.Fatalf("show after remove: %v", err)
	}
}
