// Package httpapi is the HTTP API of the service: routes, authentication and authorization,
// request decoding, the mapping of domain errors to statuses, and the OpenAPI document. The
// same handler serves the local run and the api Lambda function.
package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"wspolicy/internal/console"
	"wspolicy/internal/devkeys"
	"wspolicy/internal/directory"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sso"
	"wspolicy/internal/sweep"
	"wspolicy/internal/workspaces"
)

// Config is what the API needs from its caller.
type Config struct {
	// Directory stores groups, users, memberships, keys and history.
	Directory policy.Directory
	// Clock tells the time; nil means the system clock.
	Clock policy.Clock
	// AdminKey, when set, is accepted as an admin key (the ADMIN_API_KEY bootstrap).
	AdminKey string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// KeyCacheTTL is how long a verified key is trusted without a database read: 0 means 30s,
	// more than 60s is capped at 60s, negative disables the cache.
	KeyCacheTTL time.Duration
	// Sessions runs the session lifecycle; nil makes the session routes answer 503.
	Sessions *sessions.Service
	// Sweeper runs POST /v1/sweeps; nil makes that route answer 503.
	Sweeper *sweep.Sweeper
	// SweepBudget bounds a POST /v1/sweeps run (sweep.Options.Budget): 0 means
	// DefaultSweepBudget, below API Gateway's 30-second integration timeout.
	SweepBudget time.Duration
	// Metrics, when set, is served at GET /v1/metrics (the local server's figures); nil makes
	// that route answer 503 (on AWS the figures are CloudWatch metrics).
	Metrics *metrics.Registry
	// Preview answers POST /v1/groups/{group_id}/preview (issue 20); nil makes one from
	// Directory that previews effective settings only (no session reads).
	Preview *preview.Service
	// Workspaces is the Workspaces registry; nil makes its routes answer 503.
	Workspaces *workspaces.Service
	// DevKeys issues the Developer API keys; nil makes their routes answer 503.
	DevKeys *devkeys.Service
	// Kasm serves the Kasm Developer API under /api/public/ and /api/admin/; nil answers 503.
	Kasm http.Handler
	// OIDC configures sign-in with an OpenID Connect provider (issue 19); it is on when
	// OIDC.Enabled() and SSOStore is set.
	OIDC sso.Config
	// SSOStore stores identities and SSO group mappings.
	SSOStore sso.Store
}

// access says who may call a route.
type access int

const (
	accessPublic   access = iota // no key needed
	accessAnyKey                 // any valid key
	accessAdmin                  // an admin key
	accessSelfUser               // an admin key, or a user key whose user is the {user_id} of the path
	accessOwner                  // any valid key; the handler lets a user key act only on its own user's sessions
)

// route is one entry of the routing table: a net/http pattern, who may call it, and a handler
// that returns its failure for writeError.
type route struct {
	pattern string
	access  access
	handle  func(w http.ResponseWriter, r *http.Request) error
}

// server holds the dependencies every handler shares.
type server struct {
	dir      policy.Directory
	sessions *sessions.Service
	sweeper  *sweep.Sweeper
	sweepFor time.Duration
	metrics  *metrics.Registry
	clock    policy.Clock
	log      *slog.Logger
	auth     *keyAuth
	mux      *http.ServeMux
	routes   []route
	preview  *preview.Service

	directory  *directory.Service
	workspaces *workspaces.Service
	devKeys    *devkeys.Service
	kasm       http.Handler
}

// New builds the API handler. It panics when cfg.Directory is nil, a wiring mistake.
func New(cfg Config) http.Handler {
	return newServer(cfg)
}

func newServer(cfg Config) *server {
	if cfg.Directory == nil {
		panic("httpapi: Config.Directory is nil")
	}
	s := &server{dir: cfg.Directory, sessions: cfg.Sessions, sweeper: cfg.Sweeper, clock: cfg.Clock, log: cfg.Logger, mux: http.NewServeMux()}
	if s.clock == nil {
		s.clock = policy.SystemClock{}
	}
	s.directory = directory.New(cfg.Directory, s.clock)
	if cfg.Sessions != nil {
		s.directory = s.directory.WithSessions(cfg.Sessions)
	}
	s.metrics, s.sweepFor = cfg.Metrics, cfg.SweepBudget
	s.preview = cfg.Preview
	if pd, ok := cfg.Directory.(preview.Directory); ok && s.preview == nil {
		s.preview = preview.New(pd, nil, s.clock)
	}
	s.workspaces, s.devKeys, s.kasm = cfg.Workspaces, cfg.DevKeys, cfg.Kasm
	if s.sweepFor <= 0 {
		s.sweepFor = DefaultSweepBudget
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.auth = newKeyAuth(s.dir, s.clock, cfg.AdminKey, cfg.KeyCacheTTL)
	if cfg.OIDC.Enabled() && cfg.SSOStore != nil {
		s.auth.tokens = newTokenAuth(cfg.OIDC, cfg.SSOStore, s.directory, s.clock)
	}
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	// The browser console: static files only, served without a key (every piece of data comes
	// from the API with the key the user signs in with). GET /console redirects to /console/.
	// With OIDC on, the page may also call the provider (discovery, token, renewal).
	ch := console.HandlerWith(console.Options{ConnectOrigins: cfg.OIDC.ConnectOrigins()})
	s.mux.Handle("GET "+console.Prefix, ch)
	s.mux.Handle("GET "+strings.TrimSuffix(console.Prefix, "/"), ch)
	return s
}

// routeTable lists every route. Each file contributes its own part.
func (s *server) routeTable() []route {
	var rs []route
	rs = append(rs, s.metaRoutes()...)
	rs = append(rs, s.groupRoutes()...)
	rs = append(rs, s.userRoutes()...)
	rs = append(rs, s.keyRoutes()...)
	rs = append(rs, s.storageMappingRoutes()...)
	rs = append(rs, s.usageRoutes()...)
	rs = append(rs, s.sessionRoutes()...)
	rs = append(rs, s.sweepRoutes()...)
	rs = append(rs, s.metricsRoutes()...)
	rs = append(rs, s.previewRoutes()...)
	rs = append(rs, s.kasmRoutes()...)
	rs = append(rs, s.ssoRoutes()...)
	return rs
}

// metaRoutes are the routes about the service itself.
func (s *server) metaRoutes() []route {
	return []route{
		{"GET /v1/health", accessPublic, s.handleHealth},
		{"GET /v1/openapi.json", accessPublic, s.handleOpenAPI},
		{"GET /v1/settings", accessAnyKey, s.handleCatalog},
		{"GET /v1/me", accessAnyKey, s.handleMe},
		{"GET /v1/limits", accessAnyKey, s.handleLimits},
	}
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) handleCatalog(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"settings": settings.Catalog()})
	return nil
}

// handleLimits serves the limits on groups and users (policy/limits.go), so that the console
// checks input with the numbers the service enforces instead of copies.
func (s *server) handleLimits(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, policy.CurrentLimits())
	return nil
}

// meView is the answer of GET /v1/me: who the key belongs to. user_id is null for the
// ADMIN_API_KEY, which belongs to no user.
type meView struct {
	Role   policy.Role `json:"role"`
	UserID *string     `json:"user_id"`
	KeyID  string      `json:"key_id"`
}

// handleMe tells a client (the browser console) what its key is; the key comes from the
// cache, so it adds no database read.
func (s *server) handleMe(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	v := meView{Role: c.Role, KeyID: c.KeyID}
	if c.UserID != "" {
		v.UserID = &c.UserID
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ServeHTTP logs the request, recovers from panics, and answers unknown routes and methods
// with JSON errors before handing the request to the mux.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.logRequest(r, sw, info, time.Since(start)) }()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			info.err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if sw.status == 0 {
				writeJSON(sw, http.StatusInternalServerError, errorBody{errorDetail{Code: policy.CodeInternal, Message: "internal error"}})
			}
		}
	}()
	// An unclean path (empty or dot segments) would get the mux's HTML redirect: no route
	// has one, so it is a JSON 404 like any other unknown path. A trailing slash is clean
	// (the console's /console/).
	if p := r.URL.Path; p != path.Clean(p) && p != path.Clean(p)+"/" {
		writeJSON(sw, http.StatusNotFound, errorBody{errorDetail{Code: policy.CodeRouteNotFound, Message: fmt.Sprintf("no route %s %s", r.Method, p)}})
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, SSOPathPrefix+"/v1/"); ok {
		if !s.ssoPath(sw, r, rest) {
			return
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.notRouted(sw, r)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// notRouted answers a request no pattern matches: 405 (with Allow) when the path exists for
// other methods, else 404.
func (s *server) notRouted(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{errorDetail{Code: policy.CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)}})
		return
	}
	writeJSON(w, http.StatusNotFound, errorBody{errorDetail{Code: policy.CodeRouteNotFound,
		Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)}})
}

// pathIDPattern finds the {…_id} wildcards of a route pattern.
var pathIDPattern = regexp.MustCompile(`\{([a-z_]+_id)\}`)

// wrap turns a route into a handler: authenticate, check the path ids, authorize, handle.
// Ids are checked before the handler runs, so a malformed id never reaches the database.
func (s *server) wrap(rt route) http.Handler {
	var ids []string
	for _, m := range pathIDPattern.FindAllStringSubmatch(rt.pattern, -1) {
		ids = append(ids, m[1])
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		info.route = rt.pattern
		if rt.access != accessPublic {
			c, err := s.auth.authenticate(r.Context(), r)
			if err != nil {
				writeError(w, r, err)
				return
			}
			info.caller = &c
		}
		for _, name := range ids {
			if !policy.ValidID(r.PathValue(name)) {
				writeError(w, r, policy.FieldErrorf(name, policy.CodeInvalidID,
					"%s must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", name))
				return
			}
		}
		if err := authorize(rt.access, r); err != nil {
			writeError(w, r, err)
			return
		}
		if err := rt.handle(w, r); err != nil {
			writeError(w, r, err)
		}
	})
}

// authorize checks the route's access rule against the authenticated caller.
func authorize(a access, r *http.Request) error {
	switch a {
	case accessPublic, accessAnyKey, accessOwner:
		return nil
	case accessAdmin:
		if callerOf(r).isAdmin() {
			return nil
		}
		return errAdminKeyRequired()
	case accessSelfUser:
		return requireSelfOrAdmin(r, r.PathValue("user_id"))
	}
	return errForbidden()
}

// requireSelfOrAdmin lets admins act on any user's resources and user keys on their own.
// Handlers whose owner is only known after a read (sessions) call it themselves.
func requireSelfOrAdmin(r *http.Request, userID string) error {
	c := callerOf(r)
	if c.isAdmin() || (c.UserID != "" && c.UserID == userID) {
		return nil
	}
	return errForbidden()
}

// callerOf returns the authenticated caller of r (the zero caller on public routes).
func callerOf(r *http.Request) caller {
	if info := requestInfoFrom(r.Context()); info != nil && info.caller != nil {
		return *info.caller
	}
	return caller{}
}

// now is the current time in UTC.
func (s *server) now() time.Time { return s.clock.Now().UTC() }

// requestInfo collects what the request log line reports.
type requestInfo struct {
	route  string
	caller *caller
	err    error
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// logRequest writes the one log line of a request. It never logs headers, so keys and
// secrets stay out of the log; a key appears only by its key id.
func (s *server) logRequest(r *http.Request, sw *statusWriter, info *requestInfo, d time.Duration) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Int("bytes", sw.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if c := info.caller; c != nil {
		attrs = append(attrs, slog.String("key_id", c.KeyID), slog.String("role", string(c.Role)))
		if c.UserID != "" {
			attrs = append(attrs, slog.String("user_id", c.UserID))
		}
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		if info.err != nil {
			attrs = append(attrs, slog.String("error", info.err.Error()))
		}
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// probeWriter captures what the mux's own 404/405 handler would answer, to answer in JSON.
type probeWriter struct {
	header http.Header
	status int
}

func (w *probeWriter) Header() http.Header { return w.header }

func (w *probeWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *probeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// pathPrefixV1 is the base path of every route.
const pathPrefixV1 = "/v1"

// groupPath is the URL of a group.
func groupPath(id string) string { return pathPrefixV1 + "/groups/" + id }

// userPath is the URL of a user.
func userPath(id string) string { return pathPrefixV1 + "/users/" + id }
