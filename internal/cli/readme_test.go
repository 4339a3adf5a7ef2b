package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// serverRoles are the binary's server commands, which cmd/zeitwork adds
// beside the client's and this package does not know.
var serverRoles = map[string]bool{"up": true, "operator": true, "node": true, "edge": true, "dns": true, "lb": true, "setup": true}

// TestDocumentedCommandsExist: every `zeitwork ...` line of the README's and
// docs' examples names a client command that exists, with flags it has, so
// that a newcomer copying one does not meet "unknown command".
func TestDocumentedCommandsExist(t *testing.T) {
	root := &cobra.Command{Use: "zeitwork"}
	root.AddCommand(Commands()...)
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	cmdLine := regexp.MustCompile("(?:^|[`$] ?|^\\s*(?:[A-Z_]+=\\S+ )*)zeitwork ([a-z][^`#|;&]*)")
	checked := 0
	for _, f := range files {
		b, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(b)
		for n := 1; sc.Scan(); n++ {
			for _, m := range cmdLine.FindAllStringSubmatch(sc.Text(), -1) {
				checked++
				checkDocumented(t, root, f, n, strings.Fields(m[1]))
			}
		}
		b.Close()
	}
	if checked < 50 {
		t.Fatalf("found only %d documented command lines in %v", checked, files)
	}
	t.Logf("checked %d documented command lines", checked)
}

func checkDocumented(t *testing.T, root *cobra.Command, file string, line int, words []string) {
	t.Helper()
	if len(words) == 0 || serverRoles[words[0]] {
		return
	}
	cmd, rest, err := root.Find(words)
	if err != nil || cmd == root {
		t.Errorf("%s:%d: zeitwork %s: no such command", file, line, strings.Join(words, " "))
		return
	}
	if cmd.HasSubCommands() && len(rest) > 0 && !strings.ContainsAny(rest[0][:1], "-[<") {
		t.Errorf("%s:%d: zeitwork %s: %s has no command %q", file, line, strings.Join(words, " "), cmd.CommandPath(), rest[0])
	}
	for _, w := range rest {
		if !strings.HasPrefix(w, "--") || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		name = strings.TrimRight(name, ".,)…")
		if name == "" || name == "help" {
			continue
		}
		if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
			t.Errorf("%s:%d: zeitwork %s: %s has no flag --%s", file, line, strings.Join(words, " "), cmd.CommandPath(), name)
		}
	}
}
