package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/github"
)

// sourceFlags are a project's build source settings on the command line.
type sourceFlags struct {
	repo, branch, rootDir, dockerfile string
}

func (s *sourceFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.repo, "repo", "", "GitHub repository to build from, as owner/name (\"\" unlinks)")
	f.StringVar(&s.branch, "branch", "", "production branch: its pushes go live, other branches make previews (default main)")
	f.StringVar(&s.rootDir, "root-dir", "", "directory of the repository that is the build context (default .)")
	f.StringVar(&s.dockerfile, "dockerfile", "", "Dockerfile path inside the root directory (default Dockerfile)")
}

// request holds the flags the user gave; nil when none.
func (s *sourceFlags) request(cmd *cobra.Command) *api.UpdateProjectRequest {
	var req api.UpdateProjectRequest
	set := false
	for flag, dst := range map[string]**string{"repo": &req.Repo, "branch": &req.ProductionBranch,
		"root-dir": &req.RootDir, "dockerfile": &req.Dockerfile} {
		if cmd.Flags().Changed(flag) {
			v, _ := cmd.Flags().GetString(flag)
			*dst, set = &v, true
		}
	}
	if !set {
		return nil
	}
	return &req
}

// projectsUpdateCmd changes a project's build source, rate limits, HTTPS
// settings and regions.
func projectsUpdateCmd() *cobra.Command {
	var src sourceFlags
	var lim limitFlags
	var https httpsFlags
	var regions regionsFlag
	var idle scaleToZeroFlags
	var rt runtimeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a project's port, health check, size, instances, build source, rate limits, HTTPS settings, regions or scale to zero",
		Args:  exactArgs(1, "give the project's name, e.g. `zeitwork projects update my-app --repo acme/web`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := src.request(cmd)
			sourceSet := req != nil
			if err := lim.apply(cmd, &req); err != nil {
				return err
			}
			if err := https.apply(cmd, &req); err != nil {
				return err
			}
			regions.apply(cmd, &req)
			if err := idle.apply(cmd, &req); err != nil {
				return err
			}
			rt.apply(cmd, &req)
			if req == nil {
				return &UserError{Msg: "nothing to change", Hint: "give --port, --health-path, --memory, --vcpus, --min-instances, --repo, --branch, --root-dir, --dockerfile, --rate-limit, --client-rate-limit, --hsts, --no-https-redirect-versioned, --regions, --scale-to-zero or --idle-timeout"}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var p api.Project
			if err := c.do(cmd.Context(), "PATCH", "/v1/projects/"+args[0], req, &p); err != nil {
				return err
			}
			if req.Regions != nil {
				warnRegionsWithoutNodes(cmd, c, p.Regions)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			if sourceSet {
				printSource(cmd, p)
			}
			if req.ProjectRateLimit != nil || req.ClientRateLimit != nil {
				printRateLimits(cmd, p)
			}
			if https.set(req) {
				printHTTPS(cmd, p)
			}
			if req.Regions != nil {
				printRegions(cmd, p)
			}
			if idle.set(req) {
				printScaleToZero(cmd, p)
			}
			if rt.set(req) {
				printRuntime(cmd, p)
			}
			return nil
		},
	}
	src.add(cmd)
	lim.add(cmd)
	https.add(cmd)
	regions.add(cmd)
	idle.add(cmd)
	rt.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printSource(cmd *cobra.Command, p api.Project) {
	if p.Repo == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "Project %s is not linked to a GitHub repository\n", p.Name)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Project %s builds %s (root %s, %s); pushes to %s go live, other branches make previews\n",
		p.Name, p.Repo, p.RootDir, p.Dockerfile, p.ProductionBranch)
}

// githubCmd holds the operator admin's GitHub App command and each
// user's own GitHub account and repositories.
func githubCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "github", Short: "Connect the operator to GitHub (setup: admin); your GitHub account and repositories"}
	cmd.AddCommand(githubSetupCmd(), githubAccountCmd(), githubReposCmd(), githubUnlinkCmd())
	return cmd
}

// githubSetupCmd creates the operator's GitHub App through GitHub's App
// manifest flow: the user opens a URL, GitHub creates the App and shows a
// code, which is exchanged for the App's ID, key and webhook secret; those
// go to the operator (sealed there), never to a file.
func githubSetupCmd() *cobra.Command {
	var apiURL, webURL, name, publicURL, code, adminToken, clientID, clientSecret string
	var noSignIn bool
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the GitHub App for this operator and store it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if adminToken == "" {
				adminToken = c.cfg.Token // an installation administrator's login
			}
			if publicURL == "" {
				publicURL = c.cfg.APIURL
			}
			if code == "" {
				if code, err = askManifestCode(cmd, apiURL, name, publicURL); err != nil {
					return err
				}
			}
			created, err := github.ConvertManifest(cmd.Context(), apiURL, code)
			if err != nil {
				return &UserError{Msg: err.Error(), Hint: "codes expire after an hour and work once; run setup again"}
			}
			if noSignIn && clientID != "" {
				return &UserError{Msg: "--no-sign-in and --client-id contradict each other", Hint: "give one of them"}
			}
			if clientID != "" { // an App made before sign-in: its client, given by hand
				created.ClientID, created.ClientSecret = clientID, clientSecret
			}
			if noSignIn {
				created.ClientID, created.ClientSecret = "", ""
			}
			return storeApp(cmd.Context(), c, adminToken, apiURL, webURL, publicURL, created, noSignIn, cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiURL, "github-api", github.DefaultAPI, "GitHub API base URL (https://HOST/api/v3 for GitHub Enterprise)")
	f.StringVar(&webURL, "github-web", "", "GitHub's web URL, where users authorize sign-in (default: from --github-api)")
	f.StringVar(&clientID, "client-id", "", "the App's client ID, for sign-in with GitHub (default: the one GitHub returned)")
	f.StringVar(&clientSecret, "client-secret", os.Getenv("ZEITWORK_GITHUB_CLIENT_SECRET"), "the App's client secret, with --client-id")
	f.BoolVar(&noSignIn, "no-sign-in", false, "turn sign-in with GitHub off: store the App without an OAuth client, dropping a stored one")
	f.StringVar(&name, "name", "zeitwork", "name of the App to create (unique on GitHub)")
	f.StringVar(&publicURL, "public-url", "", "the operator's URL as GitHub reaches it (default: the API URL you logged in to)")
	f.StringVar(&code, "code", "", "the code GitHub returned, if you already have it")
	f.StringVar(&adminToken, "admin-token", os.Getenv("ZEITWORK_ADMIN_TOKEN"), "the operator's admin token (default: your login, if you administer the installation)")
	return cmd
}

// askManifestCode prints the manifest URL and reads the code back.
func askManifestCode(cmd *cobra.Command, apiURL, name, publicURL string) (string, error) {
	base := strings.TrimRight(publicURL, "/")
	m := github.Manifest(name, base, base+"/v1/webhooks/github", base+"/v1/github/created")
	u, err := github.ManifestURL(apiURL, m)
	if err != nil {
		return "", err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Open this URL, create the App, then install it on your repositories:\n\n  %s\n\n", u)
	fmt.Fprint(out, "GitHub then redirects to a URL ending in ?code=...; paste the code here: ")
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	code := strings.TrimSpace(line)
	if code == "" {
		return "", &UserError{Msg: fmt.Sprintf("no code given (%v)", err), Hint: "run again, or pass --code"}
	}
	return code, nil
}

// storeApp hands the App to the operator with the admin token or an
// installation administrator's token. Without a client (an App whose
// answer had none), the operator keeps the one stored for the same App;
// clear drops it.
func storeApp(ctx context.Context, c *client, adminToken, apiURL, webURL, publicURL string, created github.Created, clear bool, cmd *cobra.Command) error {
	if (created.ClientID == "") != (created.ClientSecret == "") {
		return &UserError{Msg: "--client-id and --client-secret go together", Hint: "copy both from the App's settings page on GitHub"}
	}
	admin := &client{cfg: c.cfg, http: c.http}
	admin.cfg.Token = adminToken
	var stored api.GitHubApp
	err := admin.do(ctx, "PUT", "/v1/github/app", api.GitHubApp{AppID: created.ID, Slug: created.Slug,
		PrivateKey: created.PEM, WebhookSecret: created.WebhookSecret, API: apiURL, Web: webURL,
		ClientID: created.ClientID, ClientSecret: created.ClientSecret, ClearClient: clear}, &stored)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "GitHub App %s (id %d) stored; install it on a repository and link it with `zeitwork projects update NAME --repo owner/name`\n",
		created.Slug, stored.AppID)
	if stored.ClientID != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "Sign-in with GitHub is on (client %s); the App's callback URL must be %s/v1/github/oauth/callback\n",
			stored.ClientID, strings.TrimRight(publicURL, "/"))
	} else {
		fmt.Fprintln(cmd.OutOrStdout(), "Sign-in with GitHub is off (no OAuth client stored); to turn it on, run setup again with --client-id and --client-secret")
	}
	return nil
}
