package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerServesAssets(t *testing.T) {
	h := Handler()
	tests := []struct {
		name        string
		method      string
		target      string
		wantStatus  int
		wantType    string
		wantBodyHas string
		wantHeader  [2]string
	}{
		{name: "index", method: "GET", target: "/console/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantBodyHas: `<script type="module" src="js/app.js">`},
		{name: "index by name", method: "GET", target: "/console/index.html", wantStatus: 200, wantType: "text/html; charset=utf-8"},
		{name: "module", method: "GET", target: "/console/js/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBodyHas: "import"},
		{name: "nested module", method: "GET", target: "/console/js/views/group.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "stylesheet", method: "GET", target: "/console/console.css", wantStatus: 200, wantType: "text/css; charset=utf-8"},
		{name: "icon", method: "GET", target: "/console/favicon.svg", wantStatus: 200, wantType: "image/svg+xml"},
		{name: "head", method: "HEAD", target: "/console/js/api.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "bare prefix redirects", method: "GET", target: "/console", wantStatus: 301, wantHeader: [2]string{"Location", "/console/"}},
		{name: "unknown file", method: "GET", target: "/console/nope.js", wantStatus: 404},
		{name: "directory", method: "GET", target: "/console/js/", wantStatus: 404},
		{name: "escape attempt", method: "GET", target: "/console/../go.mod", wantStatus: 404},
		{name: "encoded escape attempt", method: "GET", target: "/console/%2e%2e/console.go", wantStatus: 404},
		{name: "source of the package", method: "GET", target: "/console/console.go", wantStatus: 404},
		{name: "outside the prefix", method: "GET", target: "/other", wantStatus: 404},
		{name: "post", method: "POST", target: "/console/", wantStatus: 405, wantHeader: [2]string{"Allow", "GET, HEAD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s: got status %d, want %d", tc.method, tc.target, rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("CSP: got %q, want %q", got, ContentSecurityPolicy)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
			}
			if tc.wantType != "" {
				if got := rec.Header().Get("Content-Type"); got != tc.wantType {
					t.Errorf("Content-Type: got %q, want %q", got, tc.wantType)
				}
			}
			if tc.wantBodyHas != "" && !strings.Contains(rec.Body.String(), tc.wantBodyHas) {
				t.Errorf("body lacks %q", tc.wantBodyHas)
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD: got a %d-byte body, want none", rec.Body.Len())
			}
			if k := tc.wantHeader[0]; k != "" {
				if got := rec.Header().Get(k); got != tc.wantHeader[1] {
					t.Errorf("%s: got %q, want %q", k, got, tc.wantHeader[1])
				}
			}
		})
	}
}

func TestHandlerRevalidatesByETag(t *testing.T) {
	h := Handler()
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest("GET", "/console/js/app.js", nil))
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("got no ETag")
	}
	if got := first.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control: got %q, want no-cache", got)
	}
	tests := []struct {
		name       string
		ifNoneMtch string
		wantStatus int
	}{
		{name: "same version", ifNoneMtch: etag, wantStatus: http.StatusNotModified},
		{name: "other version", ifNoneMtch: `"0000"`, wantStatus: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/console/js/app.js", nil)
			req.Header.Set("If-None-Match", tc.ifNoneMtch)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Errorf("got status %d, want %d", rec.Code, tc.wantStatus)
			}
		})
	}
}

// TestCSPForbidsOtherOrigins checks the policy itself: nothing but 'self' (and data: images).
func TestCSPForbidsOtherOrigins(t *testing.T) {
	for _, directive := range strings.Split(ContentSecurityPolicy, ";") {
		fields := strings.Fields(directive)
		if len(fields) == 0 {
			continue
		}
		for _, src := range fields[1:] {
			switch src {
			case "'self'", "'none'":
			case "data:":
				if fields[0] != "img-src" {
					t.Errorf("%s allows data:, want it only in img-src", fields[0])
				}
			default:
				t.Errorf("%s allows %s, want only 'self' or 'none'", fields[0], src)
			}
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
}

// TestAssetsNeedNothingFromElsewhere keeps the console self-contained and within its CSP:
// no absolute URL to another host, no inline script or style, and every module import and
// page reference resolves to an embedded file.
func TestAssetsNeedNothingFromElsewhere(t *testing.T) {
	absURL := regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	inlineHandler := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	inlineStyle := regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	inlineScript := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`)
	importRef := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]|^\s*}\s*from\s+['"]([^'"]+)['"]`)
	pageRef := regexp.MustCompile(`(?:src|href)="([^"#]+)"`)

	files := map[string]string{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		files[strings.TrimPrefix(p, "assets/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(importRef.FindAllString(files["js/app.js"], -1)); got < 5 {
		t.Fatalf("found %d imports in js/app.js, want at least 5: the import pattern is broken", got)
	}
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			if contentType(name) == "" {
				t.Errorf("%s has no content type: the handler would not serve it", name)
			}
			if m := absURL.FindString(body); m != "" && path.Ext(name) != ".svg" {
				t.Errorf("refers to another origin: %q", m)
			}
			if path.Ext(name) == ".html" {
				for _, m := range inlineScript.FindAllString(body, -1) {
					if !strings.Contains(m, "src=") {
						t.Errorf("inline script %q: the CSP blocks it", m)
					}
				}
				if m := inlineHandler.FindString(body); m != "" {
					t.Errorf("inline event handler %q: the CSP blocks it", m)
				}
				if m := inlineStyle.FindString(body); m != "" {
					t.Errorf("inline style %q: the CSP blocks it", m)
				}
				for _, m := range pageRef.FindAllStringSubmatch(body, -1) {
					if _, ok := files[path.Join(path.Dir(name), m[1])]; !ok {
						t.Errorf("refers to %s, which is not embedded", m[1])
					}
				}
			}
			if path.Ext(name) == ".js" {
				for _, m := range importRef.FindAllStringSubmatch(body, -1) {
					ref := m[1] + m[2]
					if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") {
						t.Errorf("imports %q: only relative imports of embedded modules work", ref)
						continue
					}
					if _, ok := files[path.Join(path.Dir(name), ref)]; !ok {
						t.Errorf("imports %s, which is not embedded", ref)
					}
				}
			}
		})
	}
}

// TestCSPConnectOrigins: the provider's origins join connect-src, and nothing else changes.
func TestCSPConnectOrigins(t *testing.T) {
	h := HandlerWith(Options{ConnectOrigins: []string{"http://127.0.0.1:8081", "https://idp.example.com"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Prefix, nil))
	got := rec.Header().Get("Content-Security-Policy")
	for _, directive := range strings.Split(got, ";") {
		fields := strings.Fields(directive)
		if len(fields) == 0 {
			continue
		}
		want := strings.Join(fields, " ")
		if fields[0] == "connect-src" {
			if want != "connect-src 'self' http://127.0.0.1:8081 https://idp.example.com" {
				t.Errorf("connect-src = %q", want)
			}
		} else if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("%q is not in the default policy", want)
		}
	}
	if CSP(nil) != ContentSecurityPolicy {
		t.Errorf("CSP(nil) = %q", CSP(nil))
	}
}
