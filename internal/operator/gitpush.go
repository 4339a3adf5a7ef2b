package operator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The pre-receive hook talks back to the operator that started it over a
// Unix socket in a directory only the operator's user can enter, with a
// token minted for that one push and put in the hook's environment (never
// on a command line). The token dies when the push request ends.

// Environment of the hook.
const (
	envPushToken   = "ZEITWORK_PUSH_TOKEN"
	envPushSocket  = "ZEITWORK_PUSH_SOCKET"
	envPushTimeout = "ZEITWORK_PUSH_TIMEOUT" // seconds
)

// gitRemote is the operator's git remote: where git is, the hooks
// directory (its pre-receive is this executable), and the hook's socket.
type gitRemote struct {
	git      string
	hooksDir string
	socket   string
	ln       net.Listener
	sessions *pushSessions
}

// newGitRemote prepares the git remote under cfg.GitDir: finds git, links
// the pre-receive hook to this executable and listens on the hook socket.
func newGitRemote(gitDir string) (*gitRemote, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git remote needs git (apt-get install git): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("git hook: %w", err)
	}
	hooks := filepath.Join(gitDir, "hooks")
	if err := os.MkdirAll(hooks, 0o700); err != nil {
		return nil, fmt.Errorf("git hooks: %w", err)
	}
	// Replace the link atomically: the executable may have moved since
	// the last start, and a push may be running a hook right now.
	tmp := filepath.Join(hooks, ".pre-receive-"+randomHex(4))
	if err := os.Symlink(self, tmp); err != nil {
		return nil, fmt.Errorf("git hook: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(hooks, "pre-receive")); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("git hook: %w", err)
	}
	// A socket path must be short (108 bytes), so it lives in its own
	// temporary directory rather than under the state directory.
	sockDir, err := os.MkdirTemp("", "zw-git-")
	if err != nil {
		return nil, fmt.Errorf("git hook socket: %w", err)
	}
	sock := filepath.Join(sockDir, "hook.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("git hook socket: %w", err)
	}
	return &gitRemote{git: git, hooksDir: hooks, socket: sock, ln: ln, sessions: &pushSessions{m: map[[32]byte]pushSession{}}}, nil
}

// serveHooks answers the hooks until ctx ends (Run then removes the
// socket's directory).
func (o *Operator) serveHooks(ctx context.Context) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/builds", o.pushBuild)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(o.git.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.log.Error("git hook socket", "err", err)
	}
}

// pushTimeout bounds how long one push waits for its build and rollout:
// the build's time limit and the deployment's, and a minute in the queue.
func (o *Operator) pushTimeout() time.Duration {
	return o.cfg.BuildTimeout + o.cfg.DeployTimeout + time.Minute
}

// pushSession is what a push's token allows: building that project.
type pushSession struct {
	project, org, user uuid.UUID
	// audit is the push's audit record, open while the push is served:
	// the hook names the builds in it, and why the push was rejected.
	audit *auditRecord
}

// pushSessions are the tokens of the pushes in progress, by their hash.
type pushSessions struct {
	mu sync.Mutex
	m  map[[32]byte]pushSession
}

// start mints a token for s; done revokes it.
func (p *pushSessions) start(s pushSession) (token string, done func()) {
	token = "zwpush_" + randomHex(32)
	h := sha256.Sum256([]byte(token))
	p.mu.Lock()
	p.m[h] = s
	p.mu.Unlock()
	return token, func() {
		p.mu.Lock()
		delete(p.m, h)
		p.mu.Unlock()
	}
}

// lookup finds the push of a token. The map is keyed by the token's hash,
// and the hash compared in constant time once found.
func (p *pushSessions) lookup(token string) (pushSession, bool) {
	h := sha256.Sum256([]byte(token))
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.m {
		if subtle.ConstantTimeCompare(k[:], h[:]) == 1 {
			return s, true
		}
	}
	return pushSession{}, false
}
