package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRootGuidesMistakes: the server roles and the top level answer a
// mistyped command or flag as the client commands do: an error (exit 1)
// naming it, with the closest one.
func TestRootGuidesMistakes(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"projcts"}, "did you mean `zeitwork projects`?"},
		{[]string{"up", "--api-listn", ":1"}, "did you mean --api-listen?"},
		{[]string{"operator", "--bogus"}, `unknown flag --bogus for "zeitwork operator"`},
	} {
		root := rootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(c.args)
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("zeitwork %s: %v, want %q", strings.Join(c.args, " "), err, c.says)
		}
	}
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "Available Commands") {
		t.Errorf("zeitwork alone: %v\n%s", err, out.String())
	}
}
