package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// linkFile is where `zeitwork link` records a directory's project,
// relative to that directory. It belongs to the user's repository; the CLI
// never adds it to .gitignore.
var linkFile = filepath.Join(".zeitwork", "project.json")

// projectLink is the content of linkFile: the project and the operator it
// lives on, so that a link made against one installation is never used
// against another.
type projectLink struct {
	Project string `json:"project"`
	APIURL  string `json:"api_url"`
}

// findLink looks for linkFile in dir and its parents; dir is where it was
// found ("" if none).
func findLink(start string) (projectLink, string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return projectLink{}, "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, linkFile))
		switch {
		case err == nil:
			var l projectLink
			if err := json.Unmarshal(b, &l); err != nil || l.Project == "" {
				return l, dir, &UserError{Msg: fmt.Sprintf("%s is not a project link", filepath.Join(dir, linkFile)),
					Hint: "run `zeitwork unlink` there and `zeitwork link PROJECT` again"}
			}
			return l, dir, nil
		case !errors.Is(err, fs.ErrNotExist):
			return projectLink{}, "", fmt.Errorf("read project link: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return projectLink{}, "", nil
		}
		dir = parent
	}
}

// sameOperator tells whether two API URLs name the same operator.
func sameOperator(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// projectOrLinked is explicit if given, else the project linked to the
// current directory (or a parent), saying on stderr which it used. A link
// to another operator than c's is refused.
func projectOrLinked(cmd *cobra.Command, c *client, explicit, hint string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	l, dir, err := findLink(".")
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", &UserError{Msg: "no project given, and this directory is not linked to one",
			Hint: hint + ", or link this directory once with `zeitwork link PROJECT`"}
	}
	if !sameOperator(l.APIURL, c.cfg.APIURL) {
		return "", &UserError{Msg: fmt.Sprintf("%s links project %s on %s, but you are logged in to %s",
			filepath.Join(dir, linkFile), l.Project, l.APIURL, c.cfg.APIURL),
			Hint: "name the project explicitly, log in to " + l.APIURL + ", or relink with `zeitwork link PROJECT`"}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Using project %s (linked in %s)\n", l.Project, dir)
	return l.Project, nil
}

func linkCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "link [PROJECT]",
		Short: "Link the current directory to a project, so that deploy, logs, env... need no --project",
		Long: "Writes " + linkFile + " (the project's name and the operator's URL) in the current directory.\n" +
			"Commands run here or below use that project when none is named; a named one always wins.\n" +
			"Without PROJECT, shows the link in effect. Commit the file or ignore it, as you like.",
		Args: maxArgs(1, "give the project's name, e.g. `zeitwork link my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return showLink(cmd, asJSON)
			}
			var p api.Project
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			l := projectLink{Project: p.Name, APIURL: c.cfg.APIURL}
			if err := os.MkdirAll(filepath.Dir(linkFile), 0o755); err != nil {
				return fmt.Errorf("link: %w", err)
			}
			b, _ := json.MarshalIndent(l, "", "  ")
			if err := os.WriteFile(linkFile, append(b, '\n'), 0o644); err != nil {
				return fmt.Errorf("link: %w", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), l)
			}
			abs, _ := filepath.Abs(linkFile)
			fmt.Fprintf(cmd.OutOrStdout(), "Linked this directory to project %s (saved in %s)\n", p.Name, abs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// showLink prints the link in effect for the current directory.
func showLink(cmd *cobra.Command, asJSON bool) error {
	l, dir, err := findLink(".")
	if err != nil {
		return err
	}
	if dir == "" {
		return &UserError{Msg: "this directory is not linked to a project", Hint: "zeitwork link PROJECT"}
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), l)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Linked to project %s on %s (in %s)\n", l.Project, l.APIURL, dir)
	return nil
}

func unlinkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unlink",
		Short: "Remove the project link of the current directory (or the parent that holds it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, dir, err := findLink(".")
			if err != nil && dir == "" {
				return err
			}
			if dir == "" {
				return &UserError{Msg: "this directory is not linked to a project", Hint: "nothing to do"}
			}
			if err := os.Remove(filepath.Join(dir, linkFile)); err != nil {
				return fmt.Errorf("unlink: %w", err)
			}
			_ = os.Remove(filepath.Join(dir, filepath.Dir(linkFile))) // only if empty
			fmt.Fprintf(cmd.OutOrStdout(), "Unlinked %s from project %s\n", dir, l.Project)
			return nil
		},
	}
}

// projectArg is args[0] when given, else the linked project (see
// projectOrLinked); hint says how to name one.
func projectArg(cmd *cobra.Command, c *client, args []string, hint string) (string, error) {
	explicit := ""
	if len(args) > 0 {
		explicit = args[0]
	}
	return projectOrLinked(cmd, c, explicit, hint)
}

// linkHint tells the creator of a project, standing in a directory with a
// Dockerfile that is not linked yet, how to link it: the likely next step
// before `zeitwork deploy`. It asks nothing, so that scripts never block.
func linkHint(cmd *cobra.Command, c *client, project string) {
	if _, err := os.Stat("Dockerfile"); err != nil {
		return
	}
	if l, dir, err := findLink("."); err == nil && dir != "" && l.Project == project && sameOperator(l.APIURL, c.cfg.APIURL) {
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "This directory has a Dockerfile: link it with `zeitwork link %s`, then `zeitwork deploy` needs no --project\n", project)
}
