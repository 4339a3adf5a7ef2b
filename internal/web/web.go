// Package web serves the dashboard: the Nuxt app in web/, generated to
// static files (make web) into dist/ and embedded in the zeitwork binary.
// The operator serves it at / on the API's origin, so that the browser
// talks to /v1 with its session cookie and no cross-origin request.
//
// A checkout where make web has not run holds only dist/.gitkeep: Go-only
// builds and tests work, and the binary serves a page that says how to
// build the dashboard.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// Dist is the generated dashboard embedded in the binary.
func Dist() fs.FS {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil {
		panic(err) // dist is a literal directory of the embed pattern
	}
	return sub
}

// Built says whether files holds a generated dashboard (its index.html).
func Built(files fs.FS) bool {
	_, err := fs.Stat(files, "index.html")
	return err == nil
}

// Handler serves files: hashed assets under /_nuxt/ with a year's cache,
// other files that exist as they are, and index.html for every other path
// (the app's own router shows the page), never cached, so that a new
// binary's app is loaded at the next visit.
type Handler struct {
	files fs.FS
	index []byte
	csp   string
}

// NewHandler reads index.html of files (or uses the placeholder page) and
// allows its inline scripts by hash in the Content-Security-Policy.
func NewHandler(files fs.FS) *Handler {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		index = []byte(placeholder)
	}
	return &Handler{files: files, index: index, csp: policy(inlineHashes(index))}
}

const placeholder = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Zeitwork</title></head>
<body><h1>Zeitwork</h1><p>This binary was built without the dashboard. Build it with <code>make build</code>
(which runs <code>make web</code>: Node.js and npm, installed by <code>scripts/install-deps.sh</code>).</p>
<p>The API is at <code>/v1</code>; see docs/api.md.</p></body></html>
`

// assetPrefix is where Nuxt puts the hashed, immutable bundles.
const assetPrefix = "_nuxt/"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the dashboard is read with GET", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name != "" && !strings.HasSuffix(name, ".html") && h.serveFile(w, r, name) {
		return
	}
	if strings.HasPrefix(name, assetPrefix) {
		// A missing bundle is an old page asking for a previous build's
		// file: HTML in its place would only confuse the browser.
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "no such asset: reload the page", http.StatusNotFound)
		return
	}
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
}

// serveFile serves name if it is a regular file of h.files.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	f, err := h.files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	if strings.HasPrefix(name, assetPrefix) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		return false
	}
	http.ServeContent(w, r, name, st.ModTime(), bytes.NewReader(data))
	return true
}

// policy is the Content-Security-Policy of every answer: scripts, styles,
// images, fonts and requests only from the operator's own origin, the
// inline scripts of index.html only by hash, no frames of it anywhere.
func policy(scriptHashes []string) string {
	script := "'self'"
	for _, h := range scriptHashes {
		script += " '" + h + "'"
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + script,
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src 'self'",
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

var scriptTag = regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`)

// inlineHashes are the CSP hashes of index.html's executable inline
// scripts (Nuxt writes its runtime config as one); JSON data blocks are
// never run and need none.
func inlineHashes(index []byte) []string {
	var out []string
	for _, m := range scriptTag.FindAllSubmatch(index, -1) {
		attrs, body := string(m[1]), m[2]
		if strings.Contains(attrs, "src=") || len(body) == 0 {
			continue
		}
		if strings.Contains(attrs, `type="application/json"`) {
			continue
		}
		sum := sha256.Sum256(body)
		out = append(out, "sha256-"+base64.StdEncoding.EncodeToString(sum[:]))
	}
	return out
}
