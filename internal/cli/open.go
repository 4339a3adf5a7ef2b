package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

func openCmd() *cobra.Command {
	var deployment string
	var dashboard, printOnly bool
	cmd := &cobra.Command{
		Use:   "open [PROJECT]",
		Short: "Open a project's URL (or a deployment's, or its dashboard page) in the browser",
		Long: "Opens the project's URL in the browser: $BROWSER if set, else xdg-open (open on macOS).\n" +
			"Where no browser can be started (no display, e.g. over SSH) the URL is printed instead.\n" +
			"Without PROJECT, the project linked to this directory (`zeitwork link`).",
		Args: maxArgs(1, "give one project, e.g. `zeitwork open my-app`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if deployment != "" && dashboard {
				return &UserError{Msg: "give either --deployment or --dashboard, not both"}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			u, err := openURL(cmd, c, args, deployment, dashboard)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if printOnly {
				fmt.Fprintln(w, u)
				return nil
			}
			if err := startBrowser(u); err != nil {
				fmt.Fprintf(w, "Could not start a browser (%v); open this URL yourself:\n%s\n", err, u)
				return nil
			}
			fmt.Fprintf(w, "Opened %s\n", u)
			return nil
		},
	}
	cmd.Flags().StringVar(&deployment, "deployment", "", "`ID` of a deployment: open its versioned URL")
	cmd.Flags().BoolVar(&dashboard, "dashboard", false, "open the project's page in the dashboard")
	cmd.Flags().BoolVar(&printOnly, "print", false, "only print the URL")
	return cmd
}

// openURL is the URL `zeitwork open` shows.
func openURL(cmd *cobra.Command, c *client, args []string, deployment string, dashboard bool) (string, error) {
	ctx := cmd.Context()
	if deployment != "" && len(args) == 0 {
		var d api.Deployment
		if err := c.do(ctx, "GET", "/v1/deployments/"+url.PathEscape(deployment), nil, &d); err != nil {
			return "", err
		}
		return d.URL, nil
	}
	explicit := ""
	if len(args) == 1 {
		explicit = args[0]
	}
	project, err := projectOrLinked(cmd, c, explicit, "give it: `zeitwork open my-app`")
	if err != nil {
		return "", err
	}
	var p api.Project
	if err := c.do(ctx, "GET", "/v1/projects/"+url.PathEscape(project), nil, &p); err != nil {
		return "", err
	}
	switch {
	case dashboard:
		return strings.TrimRight(c.cfg.APIURL, "/") + "/projects/" + url.PathEscape(p.Name), nil
	case deployment != "":
		var d api.Deployment
		if err := c.do(ctx, "GET", "/v1/deployments/"+url.PathEscape(deployment), nil, &d); err != nil {
			return "", err
		}
		if d.Project != p.Name {
			return "", &UserError{Msg: fmt.Sprintf("deployment %s is of project %s, not %s", deployment, d.Project, p.Name),
				Hint: "zeitwork open --deployment " + deployment}
		}
		return d.URL, nil
	}
	return p.URL, nil
}

// startBrowser opens u with $BROWSER (a command, possibly with arguments),
// else the desktop's opener. Without a display there is nothing to open a
// browser on, which is an error to report, not to hide.
func startBrowser(u string) error {
	var argv []string
	if b := strings.Fields(os.Getenv("BROWSER")); len(b) > 0 {
		argv = append(b, u)
	} else {
		switch runtime.GOOS {
		case "darwin":
			argv = []string{"open", u}
		case "windows":
			argv = []string{"rundll32", "url.dll,FileProtocolHandler", u}
		default:
			if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
				return errors.New("no display")
			}
			argv = []string{"xdg-open", u}
		}
	}
	p := exec.Command(argv[0], argv[1:]...)
	if err := p.Start(); err != nil {
		return err
	}
	// An opener hands the URL on and exits; a browser started directly may
	// keep running, which is success too.
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", argv[0], err)
		}
	case <-time.After(3 * time.Second):
	}
	return nil
}
