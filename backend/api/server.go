package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Options configure New. Store is required.
type Options struct {
	Store store.Store
	// Logger gets 500s and bookkeeping failures (nil: discard).
	Logger *slog.Logger
	// Now is the clock of token expiry and rate limits (time.Now).
	Now func() time.Time
	// MaxBodyBytes caps a request body (default 1 MiB): more is 413.
	MaxBodyBytes int64
	// TokenCacheTTL keeps a token's row that long (default 1s; < 0: no
	// cache): see auth.Authenticator.CacheTTL. A revocation through this
	// API holds at once; one made by another replica or the CLI within
	// TokenCacheTTL.
	TokenCacheTTL time.Duration
	// RequestsPerMinute and BurstSize are each token's rate limit
	// (defaults 600 and 60); RequestsPerMinute < 0 turns it off.
	RequestsPerMinute int
	BurstSize         int
	// Version is what /api/v1/version answers.
	Version string
	// Config serves GET /api/v1/config and POST /api/v1/config/reload;
	// nil answers both with 404 (no configuration to show or re-read).
	Config ConfigSource
	// Cost is the price table of /api/v1/analytics/cost (nil: the
	// analysis answers configured false).
	Cost CostSource
	// Predictor fills the forecasts of recommendations and
	// analytics/predictions (backend/history); nil answers them with
	// configured false.
	Predictor Predictor
}

// ConfigSource is the running process's configuration as the API shows
// and reloads it (serve implements it over --config and its flags).
type ConfigSource interface {
	// Current is the configuration in effect, every secret redacted, as
	// a JSON-encodable value.
	Current() any
	// Reload re-reads the configuration and applies what can change
	// without a restart. An invalid file is an error that names the key
	// (an *Error with Status 400, or any error for a 500) and changes
	// nothing.
	Reload(ctx context.Context) (ReloadResult, error)
}

// ReloadResult is what POST /api/v1/config/reload answers.
type ReloadResult struct {
	// Applied lists the keys whose new values are in effect.
	Applied []string `json:"applied"`
	// RestartRequired lists the keys that changed but take effect only
	// at the next start.
	RestartRequired []string `json:"restartRequired"`
}

// The defaults of Options' rate limit.
const (
	defaultRequestsPerMinute = 600
	defaultBurstSize         = 60
)

func (o *Options) validate() error {
	if o.Store == nil {
		return errors.New("api: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenCacheTTL == 0 {
		o.TokenCacheTTL = time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = defaultRequestsPerMinute
	}
	if o.BurstSize <= 0 {
		o.BurstSize = defaultBurstSize
	}
	return nil
}

type server struct {
	o     Options
	authn *auth.Authenticator
	// openapi is the document GET /api/v1/openapi.json answers.
	openapi []byte

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by tenant/token id
	rpm      int                      // requests per minute (< 0: off), under mu
	burst    int                      // under mu
}

// Handler is the API: an http.Handler whose rate limits can change while
// it serves.
type Handler struct {
	http.Handler
	s *server
}

// SetRateLimit replaces every token's limit (requestsPerMinute < 0 turns
// it off; 0 and burst <= 0 take the defaults); buckets start full again.
func (h *Handler) SetRateLimit(requestsPerMinute, burst int) {
	if requestsPerMinute == 0 {
		requestsPerMinute = defaultRequestsPerMinute
	}
	if burst <= 0 {
		burst = defaultBurstSize
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.rpm, h.s.burst = requestsPerMinute, burst
	h.s.limiters = map[string]*rate.Limiter{}
}

// New returns the API's handler.
func New(o Options) (*Handler, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &server{o: o, authn: &auth.Authenticator{Store: o.Store, Now: o.Now, Logger: o.Logger, CacheTTL: max(o.TokenCacheTTL, 0)}, limiters: map[string]*rate.Limiter{},
		rpm: o.RequestsPerMinute, burst: o.BurstSize}
	doc, err := buildOpenAPI(allRoutes(), o.Version)
	if err != nil {
		return nil, fmt.Errorf("api: the OpenAPI document: %w", err)
	}
	s.openapi = doc
	mux := http.NewServeMux()
	// paths answers what no route of the method took: 405 (JSON, with
	// Allow) for a path some route has, 404 for any other.
	paths := http.NewServeMux()
	allow := map[string][]string{}
	var order []string
	for _, rt := range allRoutes() {
		mux.HandleFunc(rt.pattern, s.wrap(rt))
		method, path, _ := strings.Cut(rt.pattern, " ")
		if _, ok := allow[path]; !ok {
			order = append(order, path)
		}
		allow[path] = append(allow[path], method)
	}
	for _, path := range order {
		methods := strings.Join(allow[path], ", ")
		paths.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: r.Method + " not allowed: " + methods})
		})
	}
	paths.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("no route %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/", paths)
	return &Handler{Handler: mux, s: s}, nil
}

// request is one authenticated request as a route sees it.
type request struct {
	*http.Request
	p auth.Principal
	// tenant is the one the route acts in: the credential's, or on a
	// mirrored route the path's (which Authorize allowed: a system
	// admin, or the token's own tenant). Never a header's or a body's.
	tenant store.TenantID
	// mirrored: the route is under /api/v1/tenants/{tenant}/.
	mirrored bool
}

// actor names the principal in the audit log of the request's tenant.
func (r *request) actor() string { return r.p.ActorIn(r.tenant) }

// handler answers a status and a JSON value, or an error.
type handler func(s *server, r *request) (int, any, error)

func (s *server) wrap(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &request{Request: r}
		if rt.action != auth.Public {
			p, err := s.authenticate(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if e := s.limit(p); e != nil {
				writeError(w, e)
				return
			}
			// A route acts on the principal's tenant, a mirrored one on
			// the path's: its rows are the only ones the store is asked
			// for.
			tenant, err := s.tenantOf(r, p, rt)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if err := auth.Authorize(p, rt.action, auth.Resource{Tenant: tenant, Kind: "tenant", Name: string(tenant)}); err != nil {
				s.fail(w, r, err)
				return
			}
			if tenant != p.Tenant {
				// A system admin's: the tenant must exist (else every
				// read is empty and every write a 400 of a foreign key).
				if _, err := s.o.Store.Tenant(r.Context(), tenant); err != nil {
					s.fail(w, r, err)
					return
				}
			}
			req.p, req.tenant, req.mirrored = p, tenant, rt.mirrored
		}
		status, v, err := rt.handle(s, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	}
}

// tenantOf is the tenant a route acts in: the principal's, or the path's
// on a mirrored route. A path tenant that cannot name one is not found
// (as one that does not exist).
func (s *server) tenantOf(r *http.Request, p auth.Principal, rt route) (store.TenantID, error) {
	if !rt.mirrored {
		return p.Tenant, nil
	}
	t := store.TenantID(r.PathValue("tenant"))
	if t.Validate() != nil {
		return "", notFound("tenant %q not found", clip(string(t)))
	}
	return t, nil
}

func (s *server) authenticate(r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "want Authorization: Bearer <token>"}
	}
	return s.authn.Authenticate(r.Context(), strings.TrimSpace(token))
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := toError(err)
	if !ok {
		s.o.Logger.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, e)
}

// limit takes one request from p's token's bucket: nil, or a 429.
func (s *server) limit(p auth.Principal) *Error {
	key := string(p.Tenant) + "/" + p.TokenID
	s.mu.Lock()
	if s.rpm < 0 {
		s.mu.Unlock()
		return nil
	}
	l, ok := s.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(float64(s.rpm)/60), s.burst)
		s.limiters[key] = l
	}
	s.mu.Unlock()
	now := s.o.Now()
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
			Message: "rate limit of the token exceeded", RetryAfter: int(math.Ceil(d.Seconds()))}
	}
	return nil
}
