package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// Sources the benchmark sends a new version from.
const (
	sourceGit    = "git"    // `git push` to the project's remote on the operator
	sourceUpload = "upload" // POST of a context archive, as `zeitwork deploy DIR`
)

// gitPush is a `git push` under way: the operator's pre-receive hook
// holds it until the build and rollout end.
type gitPush struct {
	cmd *exec.Cmd
	out *strings.Builder
}

// commitVersion makes the project's repository (one per project, kept
// across versions so that every push is a fast-forward) hold exactly the
// files of src, commits them and returns the commit.
func (b *bench) commitVersion(ctx context.Context, project, src, version string) (repo, sha string, err error) {
	repo = filepath.Join(b.dir, "git-"+project)
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		if err := os.MkdirAll(repo, 0o755); err != nil {
			return "", "", err
		}
		if _, err := runGit(ctx, repo, "init", "-q", "-b", "main"); err != nil {
			return "", "", err
		}
	}
	ents, err := os.ReadDir(repo)
	if err != nil {
		return "", "", err
	}
	for _, e := range ents {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(repo, e.Name())); err != nil {
				return "", "", err
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", src+"/.", repo).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copy context: %w: %s", err, out)
	}
	if _, err := runGit(ctx, repo, "add", "-A"); err != nil {
		return "", "", err
	}
	if _, err := runGit(ctx, repo, "commit", "-q", "--allow-empty", "-m", version); err != nil {
		return "", "", err
	}
	sha, err = runGit(ctx, repo, "rev-parse", "HEAD")
	return repo, strings.TrimSpace(sha), err
}

// startPush starts `git push` of the repository's main to the project's
// remote, authenticated with the API token as the password.
func (b *bench) startPush(ctx context.Context, project, repo string) (*gitPush, error) {
	u, err := url.Parse(b.login.APIURL)
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword("zeitwork", b.login.Token)
	u.Path = "/git/" + project + ".git"
	p := &gitPush{out: &strings.Builder{}}
	p.cmd = gitCommand(ctx, repo, "push", "-q", u.String(), "main")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	return p, p.cmd.Start()
}

// wait waits for the push to end: it succeeds once the new version is
// deployed.
func (p *gitPush) wait() error {
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("git push: %w:\n%s", err, p.out.String())
	}
	return nil
}

// stop ends a push still running, on an early return.
func (p *gitPush) stop() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// awaitBuild waits for the build of commit sha to be queued.
func (b *bench) awaitBuild(ctx context.Context, project, sha string) (api.Build, error) {
	for {
		var bs []api.Build
		if err := b.do(ctx, "GET", "/v1/projects/"+project+"/builds?limit=5", nil, &bs); err != nil {
			return api.Build{}, err
		}
		for _, bld := range bs {
			if bld.Commit == sha {
				return bld, nil
			}
		}
		if err := b.poll(ctx); err != nil {
			return api.Build{}, fmt.Errorf("no build of %s was queued: %w", sha, err)
		}
	}
}

func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := gitCommand(ctx, dir, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, out)
	}
	return string(out), nil
}

// gitCommand runs git in dir with a configuration of its own.
func gitCommand(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@zeitwork.test",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@zeitwork.test", "NO_PROXY=*", "no_proxy=*")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
