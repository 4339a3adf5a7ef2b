package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// usersCmd holds what installation administrators do for users.
func usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Help users sign in to the dashboard (installation administrators)"}
	var asJSON bool
	link := &cobra.Command{
		Use:   "signin-link [EMAIL]",
		Short: "Print a one-time dashboard sign-in link for a user (yourself without EMAIL), valid 15 minutes",
		Args:  maxArgs(1, "give one EMAIL, or none for yourself"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var req api.CreateSignInLinkRequest
			if len(args) == 1 {
				req.Email = args[0]
			}
			var l api.SignInLink
			if err := c.do(cmd.Context(), "POST", "/v1/signin-links", req, &l); err != nil {
				return err
			}
			if l.URL == "" {
				l.URL = strings.TrimRight(c.cfg.APIURL, "/") + "/signin?token=" + l.Token
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), l)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sign-in link for %s (works once, until %s):\n%s\n",
				l.Email, l.ExpiresAt.Local().Format("15:04"), l.URL)
			return nil
		},
	}
	link.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(link)
	return cmd
}

// passwordCmd sets the dashboard password of the logged-in user.
func passwordCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "password", Short: "Set or change your dashboard password"}
	var fromStdin bool
	change := &cobra.Command{
		Use:   "change",
		Short: "Change your password (prompts; --stdin reads the current and the new one, a line each); ends your other sessions",
		Long: "Change your dashboard password. On a terminal it prompts without echo; with --stdin it reads\n" +
			"two lines, the current password (an empty line if you have none yet) and the new one.\n" +
			fmt.Sprintf("The new password needs at least %d characters. Your other browser sessions end.", api.MinPasswordLength),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			req, err := readPasswords(cmd, fromStdin)
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "PUT", "/v1/user/password", req, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Password changed; your other dashboard sessions are signed out")
			return nil
		},
	}
	change.Flags().BoolVar(&fromStdin, "stdin", false, "read the current and the new password from standard input, one line each")
	cmd.AddCommand(change)
	return cmd
}

// readPasswords reads the current and new password from stdin (two
// lines) or, on a terminal, by prompting twice for the new one.
func readPasswords(cmd *cobra.Command, fromStdin bool) (api.ChangePasswordRequest, error) {
	var req api.ChangePasswordRequest
	if fromStdin {
		r := bufio.NewReader(cmd.InOrStdin())
		cur, err1 := readLine(r)
		next, err2 := readLine(r)
		if err1 != nil || err2 != nil || next == "" {
			return req, &UserError{Msg: "--stdin needs two lines: the current password (empty if none) and the new one",
				Hint: "printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | zeitwork password change --stdin"}
		}
		return api.ChangePasswordRequest{CurrentPassword: cur, NewPassword: next}, nil
	}
	if !isTerminal(os.Stdin) {
		return req, &UserError{Msg: "standard input is not a terminal", Hint: "pass --stdin to read the passwords from it"}
	}
	var err error
	out := cmd.ErrOrStderr()
	if req.CurrentPassword, err = promptSecret(out, "Current password (empty if you have none): "); err != nil {
		return req, err
	}
	if req.NewPassword, err = promptSecret(out, "New password: "); err != nil {
		return req, err
	}
	again, err := promptSecret(out, "New password again: ")
	if err != nil {
		return req, err
	}
	if again != req.NewPassword {
		return req, &UserError{Msg: "the two new passwords differ", Hint: "run the command again"}
	}
	return req, nil
}

// readLine reads one line without its line ending.
func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}
