package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/image"
	"github.com/zeitwork/zeitwork/internal/operator"
	"github.com/zeitwork/zeitwork/internal/operator/operatortest"
	"github.com/zeitwork/zeitwork/internal/pki"
	"github.com/zeitwork/zeitwork/internal/store/storetest"
	"github.com/zeitwork/zeitwork/internal/web"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const password = "correct horse battery"

// env is a real operator on a real PostgreSQL, serving the embedded
// dashboard, with a fake node agent at its node API and a headless
// Chromium (Debian's chromium, driven over the DevTools protocol).
type env struct {
	t     *testing.T
	srv   *operatortest.Server
	node  fakeNode
	alloc context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if !web.Built(web.Dist()) {
		t.Fatal("the dashboard is not built into internal/web/dist: run `make web` (make test does)")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run ./scripts/install-deps.sh")
	}
	srv := operatortest.Start(t, func(c *operator.Config) {
		c.Sessions.PasswordMemoryKiB = 64 // argon2id, cheaply, under -race
		c.NodeGrace = time.Hour           // the fake node heartbeats only at registration
	})
	e := &env{t: t, srv: srv}
	e.setPassword(srv.Token)
	e.node = e.register("eu")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	e.alloc = alloc
	return e
}

// browser is one browser window with its own cookie jar.
type browser struct {
	e   *env
	ctx context.Context
}

// newBrowser starts a browser (a separate profile per call would cost a
// process each: a new incognito-like context shares the process instead).
func (e *env) newBrowser() *browser {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.alloc)
	e.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatalf("start chromium: %v", err)
	}
	return &browser{e: e, ctx: ctx}
}

// do runs actions with a deadline; on failure it saves a screenshot and
// the page's text where CI keeps them, and fails the test.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, "%s: %v", what, err)
	}
}

// fail saves a screenshot and fails the test.
func (b *browser) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	path := b.screenshot(t)
	t.Fatalf(format+" (screenshot: %s)", append(args, path)...)
}

// artifacts is where failing tests leave screenshots: $ZEITWORK_ARTIFACTS
// (CI keeps it), else a fixed directory under /tmp that outlives the test.
func artifacts() string {
	if d := os.Getenv("ZEITWORK_ARTIFACTS"); d != "" {
		return filepath.Join(d, "browser")
	}
	return filepath.Join(os.TempDir(), "zeitwork-artifacts", "browser")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (b *browser) screenshot(t *testing.T) string {
	dir := artifacts()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "none: " + err.Error()
	}
	base := filepath.Join(dir, unsafeName.ReplaceAllString(t.Name(), "_")+"-"+time.Now().Format("150405.000"))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "none: " + err.Error()
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	os.WriteFile(base+".png", png, 0o644)
	os.WriteFile(base+".txt", []byte(url+"\n\n"+text), 0o644)
	return base + ".png"
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.fail(t, "evaluate %s: %v", js, err)
	}
	return v
}

// fetchStatus sends a request from the page (with its cookie and, if
// csrf, the session's CSRF token) and returns the answer's status.
func (b *browser) fetchStatus(t *testing.T, method, path string, csrf bool) int {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const s = await (await fetch("/v1/session")).json()
		const h = {"Content-Type": "application/json"}
		if (%t) h["X-CSRF-Token"] = s.csrf_token
		return (await fetch(%q, {method: %q, headers: h, body: "{}"})).status
	})()`, csrf, path, method)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(t, "fetch %s %s: %v", method, path, err)
	}
	return v
}

// text is the text of every element matching sel, one a line.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map((e) => e.textContent).join("\n")`, sel))
}

// waitFor polls cond (reading the page) until it holds or 30 s pass.
func (b *browser) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.fail(t, "timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until the elements matching sel hold want.
func (b *browser) waitText(t *testing.T, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := b.text(t, sel)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.fail(t, "timed out waiting for %s to hold %q (it holds %q)", sel, want, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// count is the number of elements matching sel on the page.
func (b *browser) count(t *testing.T, sel string) int {
	t.Helper()
	return eval[int](t, b, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// open navigates to path (a full page load).
func (b *browser) open(t *testing.T, path, waitSel string) {
	t.Helper()
	b.do(t, "open "+path, chromedp.Navigate(b.e.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(waitSel)))
}

// click clicks the element sel.
func (b *browser) click(t *testing.T, sel string) {
	t.Helper()
	b.do(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// signIn signs in through the sign-in page.
func (b *browser) signIn(t *testing.T, email string) {
	t.Helper()
	b.do(t, "sign in as "+email,
		chromedp.Navigate(b.e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=email]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-test=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`[data-test=password]`), password),
		chromedp.Click(chromedp.CSS(`[data-test=signin]`)),
	)
	b.waitText(t, `[data-test=whoami]`, email)
}

// call sends an API request with a bearer token and decodes the answer.
func (e *env) call(method, path, token string, body, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (e *env) setPassword(token string) {
	e.t.Helper()
	if code := e.call("PUT", "/v1/user/password", token, api.ChangePasswordRequest{NewPassword: password}, nil); code != http.StatusNoContent {
		e.t.Fatalf("set password: %d", code)
	}
}

// member invites email with role into the first organisation; the
// invitee accepts with the test password.
func (e *env) member(email, role string) {
	e.t.Helper()
	var inv api.Invitation
	if code := e.call("POST", "/v1/invitations", e.srv.Token, api.CreateInvitationRequest{Email: email, Role: role}, &inv); code != 201 {
		e.t.Fatalf("invite %s: %d", email, code)
	}
	if code := e.call("POST", "/v1/invitations/accept", "", api.AcceptInvitationRequest{Token: inv.Token, Password: password}, nil); code != 200 {
		e.t.Fatalf("accept %s: %d", email, code)
	}
}

// pushImage pushes a tiny image to the operator's registry as repo:tag.
func (e *env) pushImage(repo, tag string) string {
	e.t.Helper()
	img, err := image.FromFiles(map[string]image.File{"/app": {Mode: 0o755, Data: []byte("#!/bin/true\n" + tag)}}, image.ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		e.t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(e.srv.URL, "http://")+"/"+repo+":"+tag, name.Insecure)
	digest, err := image.PushImage(context.Background(), img, ref, &authn.Basic{Username: "u", Password: e.srv.Token}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref.Context().Digest(digest).String()
}

// deploy starts a deployment of project through the API, as the CLI does.
func (e *env) deploy(project, tag string) api.Deployment {
	e.t.Helper()
	var d api.Deployment
	if code := e.call("POST", "/v1/projects/"+project+"/deployments", e.srv.Token, api.CreateDeploymentRequest{Image: e.pushImage(project, tag)}, &d); code != 201 {
		e.t.Fatalf("deploy %s: %d", project, code)
	}
	return d
}

// fakeNode plays a node agent at the node API: it registers, reads what
// it must run and reports instance states and log lines. Real VMs would
// add nothing to what the dashboard shows.
type fakeNode struct {
	e         *env
	id, token string
}

func (e *env) register(region string) fakeNode {
	e.t.Helper()
	key, err := pki.LoadOrCreateKey(filepath.Join(e.t.TempDir(), "host.key"))
	if err != nil {
		e.t.Fatal(err)
	}
	csr, err := pki.CSR(key)
	if err != nil {
		e.t.Fatal(err)
	}
	var resp api.RegisterNodeResponse
	code := e.call("POST", "/v1/nodes/register", e.srv.JoinToken(e.t, "node"), api.RegisterNodeRequest{
		Region: region, Hostname: "node-" + region, TunnelAddr: "127.0.0.1:9", Driver: "fake", Accel: "tcg", CSR: string(csr),
	}, &resp)
	if code != 200 {
		e.t.Fatalf("register node: %d", code)
	}
	return fakeNode{e: e, id: resp.NodeID, token: resp.NodeToken}
}

// instances waits until the node must run n instances of deployment d.
func (n fakeNode) instances(d string, want int) []api.DesiredInstance {
	n.e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ds api.DesiredState
		if code := n.e.call("GET", "/v1/nodes/"+n.id+"/desired", n.token, nil, &ds); code != 200 {
			n.e.t.Fatalf("desired: %d", code)
		}
		var out []api.DesiredInstance
		for _, in := range ds.Instances {
			if in.Deployment == d && in.Desired == "running" {
				out = append(out, in)
			}
		}
		if len(out) >= want {
			return out
		}
		if time.Now().After(deadline) {
			n.e.t.Fatalf("deployment %s: %d instances placed, want %d", d, len(out), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n fakeNode) report(instance, state string) {
	n.e.t.Helper()
	r := api.InstanceReport{State: state}
	if state == api.InstanceHealthy {
		r.Timings = map[string]time.Duration{"vm_to_init": 40 * time.Millisecond, "vm_to_healthy": 120 * time.Millisecond}
	}
	if code := n.e.call("POST", "/v1/nodes/"+n.id+"/instances/"+instance, n.token, r, nil); code != http.StatusNoContent && code != 200 {
		n.e.t.Fatalf("report %s %s: %d", instance, state, code)
	}
}

func (n fakeNode) log(instance, text string) {
	n.e.t.Helper()
	batch := api.LogBatch{Lines: []api.LogLine{{Instance: instance, Stream: "stdout", Time: time.Now(), Text: text}}}
	if code := n.e.call("POST", "/v1/nodes/"+n.id+"/logs", n.token, batch, nil); code/100 != 2 {
		n.e.t.Fatalf("ship log: %d", code)
	}
}

// live makes every instance of d healthy, which makes d ready and live.
func (n fakeNode) live(d string, want int) []api.DesiredInstance {
	ins := n.instances(d, want)
	for _, in := range ins {
		n.report(in.ID, api.InstanceHealthy)
	}
	return ins
}
