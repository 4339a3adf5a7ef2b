package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walkCommands calls f on every client command.
func walkCommands(f func(c *cobra.Command)) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		f(c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	for _, c := range Commands() {
		walk(c)
	}
}

// TestMistypedCommandsAndFlags: a newcomer's typo fails (not help and exit
// 0), names the mistake and suggests the closest command or flag; a flag
// value that does not parse says what the flag wants, not strconv's words.
func TestMistypedCommandsAndFlags(t *testing.T) {
	cases := []struct {
		args []string
		says []string
	}{
		{[]string{"projects", "lst"}, []string{`unknown command "lst" for "zeitwork projects"`, "zeitwork projects list"}},
		{[]string{"env", "sett", "web", "A=1"}, []string{`unknown command "sett"`, "zeitwork env set"}},
		{[]string{"projects", "frobnicate"}, []string{`unknown command "frobnicate"`, "zeitwork projects --help"}},
		{[]string{"projects", "list", "--jsn"}, []string{"unknown flag --jsn", "did you mean --json?"}},
		{[]string{"projects", "create", "web", "--mn-instances", "2"}, []string{"unknown flag --mn-instances", "did you mean --min-instances?"}},
		{[]string{"projects", "update", "web", "--port", "abc"}, []string{`invalid value "abc" for --port`, "whole number"}},
		{[]string{"projects", "update", "web", "--idle-timeout", "5x"}, []string{`invalid value "5x" for --idle-timeout`, "duration"}},
		{[]string{"projects", "list", "--org"}, []string{"--org needs a value"}},
	}
	for _, c := range cases {
		out, err := run(t, c.args...)
		if err == nil {
			t.Errorf("zeitwork %s succeeded:\n%s", strings.Join(c.args, " "), out)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("zeitwork %s: %q does not say %q", strings.Join(c.args, " "), err, s)
			}
		}
		if strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time: ") {
			t.Errorf("zeitwork %s: %q shows Go's parser", strings.Join(c.args, " "), err)
		}
	}
	// A group alone still shows its commands, and succeeds.
	if out, err := run(t, "projects"); err != nil || !strings.Contains(out, "Available Commands") {
		t.Errorf("zeitwork projects: %v\n%s", err, out)
	}
}

// TestFlagPlaceholders: pflag takes a `quoted` word in a flag's usage as
// its value's placeholder; a quoted command there turned
// `--org NAME` into `--org zeitwork orgs switch` in every --help.
func TestFlagPlaceholders(t *testing.T) {
	walkCommands(func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " -") {
				t.Errorf("%s --%s: placeholder %q", c.CommandPath(), f.Name, name)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
	})
}

// TestListingsHaveJSON: every list and show command has --json for
// scripts.
func TestListingsHaveJSON(t *testing.T) {
	walkCommands(func(c *cobra.Command) {
		if (c.Name() == "list" || c.Name() == "show") && c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", c.CommandPath())
		}
	})
}

// TestEmptyListsSayWhatToDo: an empty listing says so and what to do, not
// a header over nothing; its --json is [] (never null); and a bad
// NAME=VALUE among several sets none of them.
func TestEmptyListsSayWhatToDo(t *testing.T) {
	url, token := startOperator(t)
	mustRun(t, "login", "--api", url, "--token", token)
	if out := mustRun(t, "projects", "list"); !strings.Contains(out, "No projects yet") || !strings.Contains(out, "zeitwork projects create") {
		t.Errorf("projects list:\n%s", out)
	}
	mustRun(t, "projects", "create", "shop")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"deployments", "list", "shop"}, "zeitwork deploy -p shop"},
		{[]string{"env", "list", "shop"}, "zeitwork env set shop NAME=VALUE"},
		{[]string{"build-args", "list", "shop"}, "zeitwork build-args set shop NAME=VALUE"},
		{[]string{"domains", "list"}, "zeitwork domains add"},
		{[]string{"builds", "list", "shop"}, "No builds yet"},
		{[]string{"invitations", "list"}, "zeitwork members invite"},
		{[]string{"nodes", "list"}, "zeitwork nodes join-token"},
		{[]string{"edges"}, "No edges enrolled"}, // the hidden alias of `nodes edges`
		{[]string{"status"}, "No deployments yet"},
	} {
		if out := mustRun(t, c.args...); !strings.Contains(out, c.says) {
			t.Errorf("zeitwork %s does not say %q:\n%s", strings.Join(c.args, " "), c.says, out)
		}
	}
	for _, args := range [][]string{
		{"env", "list", "shop", "--json"}, {"build-args", "list", "shop", "--json"}, {"deployments", "list", "shop", "--json"},
		{"domains", "list", "--json"}, {"builds", "list", "shop", "--json"}, {"invitations", "list", "--json"},
		{"nodes", "edges", "--json"}, {"edges", "--json"},
	} {
		var v []json.RawMessage
		out := mustRun(t, args...)
		if err := json.Unmarshal([]byte(out), &v); err != nil || v == nil || len(v) != 0 {
			t.Errorf("zeitwork %s: %q, want []", strings.Join(args, " "), out)
		}
	}

	for _, bad := range []string{"=x", "NOEQUALS"} {
		if _, err := run(t, "env", "set", "shop", "GOOD=1", bad); err == nil || !strings.Contains(err.Error(), "not NAME=VALUE") {
			t.Errorf("env set ... %s: %v", bad, err)
		}
	}
	if out := mustRun(t, "env", "list", "shop"); strings.Contains(out, "GOOD") {
		t.Errorf("a refused env set set some vars:\n%s", out)
	}
}

// TestAPIURLChecked: an API URL without a scheme or with a path is refused
// with the form wanted, and an answer that is not the operator's JSON is
// named as such, not with the JSON decoder's words.
func TestAPIURLChecked(t *testing.T) {
	startOperator(t)
	for _, c := range []struct{ url, says string }{
		{"localhost:7070", "invalid API URL"},
		{"127.0.0.1:7070", "invalid API URL"},
		{"http://127.0.0.1:7070/v1", "without a path: http://127.0.0.1:7070"},
	} {
		if _, err := run(t, "login", "--api", c.url, "--token", "zw_x"); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("login --api %s: %v, want %q", c.url, err, c.says)
		}
	}
	notOperator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	defer notOperator.Close()
	_, err := run(t, "login", "--api", notOperator.URL, "--token", "zw_x")
	if err == nil || !strings.Contains(err.Error(), "not JSON") || !strings.Contains(err.Error(), notOperator.URL) ||
		strings.Contains(err.Error(), "invalid character") {
		t.Errorf("login to a web server that is not an operator: %v", err)
	}
}

// TestDroppedConnection: a server that closes the connection without an
// answer is reported as that, not as "EOF".
func TestDroppedConnection(t *testing.T) {
	startOperator(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	_, err := run(t, "login", "--api", srv.URL, "--token", "zw_x")
	if err == nil || !strings.Contains(err.Error(), "closed the connection without answering") || strings.Contains(err.Error(), "EOF") {
		t.Errorf("got %v", err)
	}
}

// TestHelpTypo: `zeitwork help <typo>` fails and suggests the closest
// command (cobra's own says "Unknown help topic" and exits 0).
func TestHelpTypo(t *testing.T) {
	root := &cobra.Command{Use: "zeitwork", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	GuideMistakes(root)
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"help", "projetcs"}, "did you mean `zeitwork help projects`?"},
		{[]string{"help", "projects", "lst"}, "did you mean `zeitwork projects list`?"},
	} {
		root.SetArgs(c.args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("zeitwork %s: %v, want an error saying %q", strings.Join(c.args, " "), err, c.says)
		}
	}
	out.Reset()
	root.SetArgs([]string{"help", "deploy"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("zeitwork help deploy: %v\n%s", err, out.String())
	}
}
