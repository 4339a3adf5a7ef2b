// Package github is Zeitwork's GitHub App: it checks and parses webhook
// deliveries, authenticates as the App (an RS256 JWT exchanged for
// installation tokens), fetches the tarball of exactly one commit and
// posts commit statuses. Every byte of a delivery and of a tarball is
// untrusted until checked here.
package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
)

// MaxPayload bounds a webhook body; GitHub caps its payloads at 25 MB,
// push events with a few commits are a few KiB.
const MaxPayload = 1 << 20

// ErrPayload marks a delivery that is malformed or not usable.
var ErrPayload = errors.New("invalid push event")

// VerifySignature reports whether header, the X-Hub-Signature-256 value
// "sha256=<hex>", is the HMAC-SHA256 of body under secret. The comparison
// is in constant time, so a forger learns nothing from the timing.
func VerifySignature(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(secret) == 0 {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 header value for body, as GitHub
// computes it (used by tests and by anyone replaying a delivery locally).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Push is what Zeitwork uses of a push event.
type Push struct {
	Repo   string // "owner/name"
	Branch string // "" for tags
	// DefaultBranch is the repository's default branch, which is the
	// production branch of projects that did not choose one.
	DefaultBranch string
	After         string // the pushed commit
	Deleted       bool   // the ref was deleted: nothing to build
	Installation  int64
	Message       string // of the head commit
	Author        string
}

// pushPayload is the subset of GitHub's push event read.
type pushPayload struct {
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	Repo    struct {
		FullName      string `json:"full_name"`
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Installation struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	HeadCommit *struct {
		Message string `json:"message"`
		Author  struct {
			Name string `json:"name"`
		} `json:"author"`
	} `json:"head_commit"`
}

var (
	shaPattern  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	zeroSHA     = strings.Repeat("0", 40)
)

// ValidRepo reports whether s looks like "owner/name" on GitHub.
func ValidRepo(s string) bool {
	return repoPattern.MatchString(s) && !strings.HasSuffix(s, "/.") && !strings.HasSuffix(s, "/..")
}

// ParsePush decodes a push event and checks the fields a build relies
// on: the commit is a full SHA (it goes into URLs), the repository a
// plain owner/name. A deleted ref parses with Deleted set.
func ParsePush(body []byte) (Push, error) {
	if len(body) > MaxPayload {
		return Push{}, fmt.Errorf("%w: body over %d bytes", ErrPayload, MaxPayload)
	}
	var p pushPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Push{}, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	out := Push{Repo: p.Repo.FullName, After: p.After, Installation: p.Installation.ID,
		Deleted: p.Deleted || p.After == zeroSHA}
	out.Branch, _ = strings.CutPrefix(p.Ref, "refs/heads/")
	if out.Branch == p.Ref {
		out.Branch = ""
	}
	if !ValidRepo(out.Repo) {
		return Push{}, fmt.Errorf("%w: repository %q", ErrPayload, out.Repo)
	}
	if out.Deleted {
		return out, nil
	}
	if !shaPattern.MatchString(out.After) {
		return Push{}, fmt.Errorf("%w: commit %q is not a full SHA", ErrPayload, out.After)
	}
	if out.Installation <= 0 {
		return Push{}, fmt.Errorf("%w: no App installation in the event", ErrPayload)
	}
	if b := p.Repo.DefaultBranch; api.ValidBranch(b) {
		out.DefaultBranch = b
	}
	if p.HeadCommit != nil {
		out.Message = clip(p.HeadCommit.Message, 1000)
		out.Author = clip(p.HeadCommit.Author.Name, 200)
	}
	return out, nil
}

// clip cuts s to n bytes on a rune boundary, as valid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
