package operator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zeitwork/zeitwork/internal/api"
)

// The operator's executable is also its repositories' pre-receive hook:
// git runs it as ".../hooks/pre-receive" (a link to the executable) with
// the push's token in its environment. Test binaries that link the
// operator act as the hook the same way.
func init() {
	if filepath.Base(os.Args[0]) == "pre-receive" {
		if os.Getenv(envPushToken) == "" {
			fmt.Fprintln(os.Stderr, "error: the zeitwork hook runs only in a push to the operator's git remote")
			os.Exit(1)
		}
		os.Exit(runHook(os.Stdin, os.Stderr))
	}
}

// runHook builds and deploys each branch head the push updates, in turn;
// it fails (and git rejects the whole push, updating no ref) when one
// fails. Deleted branches and tags are let through without a build.
func runHook(stdin io.Reader, out io.Writer) int {
	secs, _ := strconv.Atoi(os.Getenv(envPushTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(secs, 60))*time.Second)
	defer cancel()
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		branch, ok := strings.CutPrefix(f[2], "refs/heads/")
		if !ok || strings.Trim(f[1], "0") == "" {
			continue
		}
		if err := hookBuild(ctx, out, branch, f[1]); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			fmt.Fprintf(out, "zeitwork: push rejected; %s was not updated\n", f[2])
			return 1
		}
	}
	return 0
}

// hookBuild sends the archive of exactly commit to the operator and copies
// its answer (the build log, the rollout, the URLs) to out.
func hookBuild(ctx context.Context, out io.Writer, branch, commit string) error {
	archive, err := gitOutput(ctx, "archive", "--format=tar", commit)
	if err != nil {
		return err
	}
	meta, err := gitOutput(ctx, "log", "-1", "--format=%an <%ae>%x00%B", commit)
	if err != nil {
		return err
	}
	author, message, _ := strings.Cut(string(meta), "\x00")
	q := url.Values{"branch": {branch}, "commit": {commit}, "author": {author}, "message": {strings.TrimSpace(message)}}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://zeitwork/push/builds?"+q.Encode(), bytes.NewReader(archive))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv(envPushToken))
	req.Header.Set("Content-Type", "application/x-tar")
	sock := os.Getenv(envPushSocket)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach the operator: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		if e.Hint != "" {
			e.Error += " (" + e.Hint + ")"
		}
		return fmt.Errorf("%s", e.Error)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("follow the build: %w", err)
	}
	if r := resp.Trailer.Get(pushResultTrailer); r != "ok" {
		return fmt.Errorf("the build or rollout of %s did not succeed", short(commit))
	}
	return nil
}

// gitOutput runs git in the repository the hook runs in, with the
// environment git gave the hook (the quarantined objects of the push).
func gitOutput(ctx context.Context, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
