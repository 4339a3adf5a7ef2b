package operator

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// Every project has a git remote at /git/<project>.git, served over git's
// smart HTTP protocol by `git http-backend` (net/http/cgi). A push runs
// the repository's pre-receive hook, which is this binary (githook.go):
// it builds and deploys each pushed branch head and rejects the push when
// that fails. Repositories are named by project id on disk, never by a
// name the tenant chose.

// gitServices are the only paths under a repository served: the smart
// protocol's. The dumb protocol's paths (objects/, HEAD, ...) are refused.
var gitServices = map[string]bool{"info/refs": true, "git-upload-pack": true, "git-receive-pack": true}

// serveGit authenticates the caller with an API token (the Basic password),
// finds the project within its organisation and hands the request to git.
func (o *Operator) serveGit(w http.ResponseWriter, r *http.Request) {
	if o.git == nil {
		o.writeError(w, r, &apiError{http.StatusServiceUnavailable, "no git remote on this operator",
			"build with `zeitwork deploy DIR`, or ask the operator to install git and set its state directory"})
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/git/")
	repo, service, ok := strings.Cut(rest, ".git/")
	if !ok || !api.IsProjectName(repo) || !gitServices[service] {
		o.writeError(w, r, invalid("use the remote URL `zeitwork git-remote add PROJECT` sets: <API URL>/git/<project>.git",
			"not a git remote path: %q", r.URL.Path))
		return
	}
	pr, err := o.authenticate(r)
	if err == nil {
		auditFrom(r.Context()).setActor(actorOf(pr))
	}
	if err == nil && pr.kind != kindUser {
		err = errUnauthorized
	}
	if err != nil {
		// git asks its credential helper only after a challenge.
		w.Header().Set("WWW-Authenticate", `Basic realm="zeitwork", charset="UTF-8"`)
		o.writeError(w, r, err)
		return
	}
	if pr, err = o.inProjectOrg(r.Context(), pr, repo); err != nil {
		o.writeError(w, r, err)
		return
	}
	least := onProject(roleViewer)
	if service == "git-receive-pack" || r.URL.Query().Get("service") == "git-receive-pack" {
		least = onProject(roleDeveloper) // a push deploys
	}
	if err := pr.allow(least); err != nil {
		o.writeError(w, r, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, pr))
	r.SetPathValue("project", repo)
	p, err := o.project(r)
	if err != nil {
		o.writeError(w, r, err)
		return
	}
	dir, err := o.gitRepo(r.Context(), p)
	if err != nil {
		o.writeError(w, r, err)
		return
	}
	env := []string{"GIT_PROJECT_ROOT=" + filepath.Dir(dir), "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + pr.userID.String()}
	env = append(env, gitConfigEnv(map[string]string{
		"http.receivepack": "true", "http.uploadpack": "true", "receive.fsckObjects": "true",
		"receive.maxInputSize": strconv.FormatInt(o.gitMaxPushBytes(), 10),
		"core.hooksPath":       o.git.hooksDir,
	})...)
	if service == "git-receive-pack" {
		token, done := o.git.sessions.start(pushSession{project: p.ID, org: p.OrganisationID, user: pr.userID, audit: auditFrom(r.Context())})
		defer done()
		env = append(env, envPushToken+"="+token, envPushSocket+"="+o.git.socket,
			envPushTimeout+"="+strconv.Itoa(int(o.pushTimeout().Seconds())))
	}
	// The token must not reach git or the hook as HTTP_AUTHORIZATION.
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	r.URL.Path = "/" + filepath.Base(dir) + "/" + service
	// net/http/cgi refuses chunked bodies (git sends large packs so);
	// without CONTENT_LENGTH, git http-backend reads the body to its end.
	if len(r.TransferEncoding) > 0 {
		r.TransferEncoding, r.ContentLength = nil, -1
	}
	h := &cgi.Handler{Path: o.git.git, Args: []string{"http-backend"}, Root: "/", Dir: dir, Env: env, Stderr: os.Stderr}
	h.ServeHTTP(flushWriter{w}, r)
}

func (o *Operator) gitMaxPushBytes() int64 {
	if o.cfg.GitMaxPushBytes > 0 {
		return o.cfg.GitMaxPushBytes
	}
	return 1 << 30
}

// gitConfigEnv passes git configuration through its environment, which
// wins over any file a tenant could influence.
func gitConfigEnv(kv map[string]string) []string {
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(kv))}
	i := 0
	for k, v := range kv {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, k), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, v))
		i++
	}
	return env
}

// gitRepo returns the project's bare repository, created on first use
// (in a temporary directory renamed into place, so that two first pushes
// at once both see one complete repository).
func (o *Operator) gitRepo(ctx context.Context, p db.Project) (string, error) {
	dir := filepath.Join(o.cfg.GitDir, "repos", p.ID.String()+".git")
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("git repositories: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".init-")
	if err != nil {
		return "", fmt.Errorf("create git repository: %w", err)
	}
	defer os.RemoveAll(tmp)
	branch := p.ProductionBranch
	if branch == "" {
		branch = "main"
	}
	out, err := exec.CommandContext(ctx, "git", "init", "--quiet", "--bare", "--initial-branch="+branch, tmp).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("create git repository: %v: %s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // created by a concurrent first push
		}
		return "", fmt.Errorf("create git repository: %w", err)
	}
	return dir, nil
}

// flushWriter flushes after every write, so that the hook's progress
// (git's sideband) reaches the pusher as it happens: net/http/cgi copies
// the program's output without flushing.
type flushWriter struct{ http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.ResponseWriter.Write(p)
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
