package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// GuideMistakes is guideMistakes for the binary's root, so that the server
// roles and a mistyped top-level command answer as the client's do.
func GuideMistakes(root *cobra.Command) {
	guideMistakes(root)
	root.SetHelpCommand(helpCmd(root))
}

// helpCmd is `zeitwork help [COMMAND...]`: cobra's prints "Unknown help
// topic" and exits 0 for a typo, which a script or a newcomer takes for
// success; this one fails and suggests the closest command.
func helpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || (cmd == root && len(args) > 0) {
				hint := fmt.Sprintf("see `%s --help` for its commands", root.CommandPath())
				if root.SuggestionsMinimumDistance <= 0 {
					root.SuggestionsMinimumDistance = 2
				}
				if s := root.SuggestionsFor(args[0]); len(s) > 0 {
					hint = fmt.Sprintf("did you mean `%s help %s`?", root.CommandPath(), s[0])
				}
				return &UserError{Msg: fmt.Sprintf("unknown help topic %q", strings.Join(args, " ")), Hint: hint}
			}
			if len(rest) > 0 {
				return groupRun(cmd, rest)
			}
			return cmd.Help()
		},
	}
}

// guideMistakes makes the tree under cmd answer a mistyped subcommand or
// flag with an error that names it and suggests the closest one, instead of
// printing help and exiting 0 (cobra's default for a group such as
// `zeitwork projects lst`) or saying only "unknown flag".
func guideMistakes(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(flagError)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = groupRun
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cmd)
}

// groupRun runs a command that only groups others: without arguments it
// shows the help; with one, that is a subcommand it does not have.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	hint := fmt.Sprintf("see `%s --help` for its commands", cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on the root
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("did you mean `%s %s`?", cmd.CommandPath(), s[0])
	}
	return &UserError{Msg: fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath()), Hint: hint}
}

// flagError rewrites pflag's parse errors: an unknown flag gets the
// closest known one, and a value that does not parse gets what the flag
// wants instead of strconv's message.
func flagError(cmd *cobra.Command, err error) error {
	var (
		unknown *pflag.NotExistError
		bad     *pflag.InvalidValueError
		missing *pflag.ValueRequiredError
	)
	help := fmt.Sprintf("see `%s --help` for its flags", cmd.CommandPath())
	switch {
	case errors.As(err, &unknown):
		name := unknown.GetSpecifiedName()
		if unknown.GetSpecifiedShortnames() != "" {
			return &UserError{Msg: fmt.Sprintf("unknown flag -%s for %q", name, cmd.CommandPath()), Hint: help}
		}
		if s := closestFlag(cmd, name); s != "" {
			help = fmt.Sprintf("did you mean --%s?", s)
		}
		return &UserError{Msg: fmt.Sprintf("unknown flag --%s for %q", name, cmd.CommandPath()), Hint: help}
	case errors.As(err, &bad):
		f := bad.GetFlag()
		return &UserError{Msg: fmt.Sprintf("invalid value %q for --%s: want %s", bad.GetValue(), f.Name, flagWants(f)), Hint: help}
	case errors.As(err, &missing):
		f := missing.GetFlag()
		return &UserError{Msg: fmt.Sprintf("--%s needs a value: %s", f.Name, flagWants(f)), Hint: help}
	}
	return &UserError{Msg: err.Error(), Hint: help}
}

// flagWants says in words what a flag's value must be.
func flagWants(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int32", "int64":
		return "a whole number"
	case "uint", "uint32", "uint64":
		return "a whole number, 0 or more"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration such as 90s, 10m or 2h"
	}
	name, _ := pflag.UnquoteUsage(f)
	if name == "" {
		name = f.Value.Type()
	}
	return "a " + name
}

// closestFlag is the flag of cmd whose name is nearest to name, or "".
func closestFlag(cmd *cobra.Command, name string) string {
	best, bestD := "", 3
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if d := distance(name, f.Name); d < bestD || (strings.HasPrefix(f.Name, name) && best == "") {
			best, bestD = f.Name, d
		}
	})
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// minArgs is cobra.MinimumNArgs with a hint.
func minArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return &UserError{Msg: fmt.Sprintf("%s takes at least %d argument(s), got %d", cmd.CommandPath(), n, len(args)), Hint: hint}
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a hint.
func maxArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return &UserError{Msg: fmt.Sprintf("%s takes at most %d argument(s), got %d", cmd.CommandPath(), n, len(args)), Hint: hint}
		}
		return nil
	}
}

// nonNil makes a list print as [] in JSON, never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// rangeArgs is cobra.RangeArgs with a hint.
func rangeArgs(lo, hi int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return &UserError{Msg: fmt.Sprintf("%s takes %d to %d argument(s), got %d", cmd.CommandPath(), lo, hi, len(args)), Hint: hint}
		}
		return nil
	}
}
