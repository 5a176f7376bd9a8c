// Package console is the web console of the service: a small set of static HTML, CSS and
// JavaScript files, embedded in the binary, that drive the HTTP API from the browser. It
// serves the files only; every piece of data comes from the API with the key the user signs
// in with.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path the console is served under.
const Prefix = "/console/"

// ContentSecurityPolicy lets the console load and call nothing but its own origin: no inline
// script or style, no frames, no plugins, no other host.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

//go:embed assets
var assets embed.FS

// contentType is the content type of an embedded file by its extension, so the answer does not
// depend on the host's MIME tables; "" for a file the console does not serve.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	default:
		return ""
	}
}

// file is one servable asset, read once.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Options configure the console's handler.
type Options struct {
	// ConnectOrigins are origins beside its own the console may call (connect-src): the
	// OpenID provider's, for discovery, the token endpoint and renewal. Each must be a bare
	// http(s) origin ("https://idp.example.com"); the caller checks them (sso.ConnectOrigins).
	ConnectOrigins []string
}

// Handler serves the console's files under Prefix for GET and HEAD requests, and redirects the
// bare prefix without its slash. The console routes in the URL fragment, so the only page is
// index.html; a path that names no file is 404.
func Handler() http.Handler { return HandlerWith(Options{}) }

// CSP is the Content-Security-Policy of a console that may also call origins (connect-src).
func CSP(origins []string) string {
	if len(origins) == 0 {
		return ContentSecurityPolicy
	}
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self';",
		"connect-src 'self' "+strings.Join(origins, " ")+";", 1)
}

// HandlerWith is Handler with options.
func HandlerWith(o Options) http.Handler {
	h := &handler{files: map[string]file{}, csp: CSP(o.ConnectOrigins)}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct := contentType(p)
		if ct == "" {
			return nil
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h.files[strings.TrimPrefix(p, "assets/")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("console: reading embedded assets: " + err.Error()) // cannot happen: go:embed checked them at build time
	}
	return h
}

type handler struct {
	files map[string]file
	csp   string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), h.csp)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path+"/" == Prefix {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	f, found := h.files[name]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	// The files change only with the binary: the browser revalidates each time, by ETag.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// setSecurityHeaders sets the headers every console answer carries.
func setSecurityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
