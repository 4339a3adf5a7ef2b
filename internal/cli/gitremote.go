package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

// gitRemoteURL is a project's git remote on the operator at apiURL.
func gitRemoteURL(apiURL, project string) string {
	return strings.TrimSuffix(apiURL, "/") + "/git/" + project + ".git"
}

func gitRemoteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "git-remote", Short: "Add a project's git remote to the current repository"}
	var remote string
	add := &cobra.Command{
		Use:   "add PROJECT",
		Short: "Add the project's remote; `git push <remote> main` then builds and deploys",
		Long: "Adds the project's git remote to the repository in the current directory, and makes git ask\n" +
			"`zeitwork git-credential` for the token of your login, so the token is not written into .git/config.",
		Args: exactArgs(1, "give the project's name, e.g. `zeitwork git-remote add my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "GET", "/v1/projects/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			u := gitRemoteURL(c.cfg.APIURL, args[0])
			if out, err := exec.CommandContext(cmd.Context(), "git", "remote", "add", remote, u).CombinedOutput(); err != nil {
				return &UserError{Msg: "git remote add: " + strings.TrimSpace(string(out)),
					Hint: fmt.Sprintf("run it in a git repository; to replace a remote: git remote set-url %s %s", remote, u)}
			}
			if err := setCredentialHelper(cmd, strings.TrimSuffix(c.cfg.APIURL, "/")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added git remote %s: %s\nDeploy with: git push %s main\n", remote, u, remote)
			return nil
		},
	}
	add.Flags().StringVar(&remote, "name", "zeitwork", "name of the git remote")
	cmd.AddCommand(add)
	return cmd
}

// setCredentialHelper makes this executable the only credential helper
// of the repository for the operator's URL. The empty first entry clears
// helpers configured elsewhere, so that no other helper stores the token.
func setCredentialHelper(cmd *cobra.Command, apiURL string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("credential helper: %w", err)
	}
	key := "credential." + apiURL + ".helper"
	exec.Command("git", "config", "--local", "--unset-all", key).Run() // absent the first time
	for _, v := range []string{"", "!" + shellQuote(exe) + " git-credential"} {
		if out, err := exec.CommandContext(cmd.Context(), "git", "config", "--local", "--add", key, v).CombinedOutput(); err != nil {
			return fmt.Errorf("git config %s: %v: %s", key, err, out)
		}
	}
	return nil
}

// shellQuote quotes s for the shell git runs "!" helpers with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func gitCredentialCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "git-credential get",
		Short: "Git credential helper: gives git the token of your login for the operator's git remotes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := readCredentialRequest(cmd.InOrStdin())
			if err != nil || args[0] != "get" {
				return err // store and erase: the login is kept by `zeitwork login`
			}
			cfg, err := loadConfig()
			if err != nil {
				return nil // not logged in: git tries its other ways
			}
			api, err := url.Parse(cfg.APIURL)
			if err != nil || api.Scheme != req["protocol"] || api.Host != req["host"] {
				return nil // another server never sees the token
			}
			fmt.Fprintf(cmd.OutOrStdout(), "username=zeitwork\npassword=%s\n", cfg.Token)
			return nil
		},
	}
}

// readCredentialRequest reads git's "key=value" lines up to a blank line.
func readCredentialRequest(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := string(bytes.TrimRight(sc.Bytes(), "\r"))
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}
