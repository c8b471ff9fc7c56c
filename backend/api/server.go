package api

import (
	"errors"
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
	// RequestsPerMinute and BurstSize are each token's rate limit
	// (defaults 600 and 60); RequestsPerMinute < 0 turns it off.
	RequestsPerMinute int
	BurstSize         int
	// Version is what /api/v1/version answers.
	Version string
}

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
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = 600
	}
	if o.BurstSize <= 0 {
		o.BurstSize = 60
	}
	return nil
}

type server struct {
	o     Options
	authn *auth.Authenticator

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by tenant/token id
}

// New returns the API's handler.
func New(o Options) (http.Handler, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &server{o: o, authn: &auth.Authenticator{Store: o.Store, Now: o.Now, Logger: o.Logger}, limiters: map[string]*rate.Limiter{}}
	mux := http.NewServeMux()
	// paths answers what no route of the method took: 405 (JSON, with
	// Allow) for a path some route has, 404 for any other.
	paths := http.NewServeMux()
	allow := map[string][]string{}
	var order []string
	for _, rt := range routes() {
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
	return mux, nil
}

// request is one authenticated request as a route sees it.
type request struct {
	*http.Request
	p      auth.Principal
	tenant store.TenantID // always p.Tenant: from the credential only
}

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
			// Every route acts on the principal's tenant: its rows are the
			// only ones the store is asked for.
			if err := auth.Authorize(p, rt.action, auth.Resource{Tenant: p.Tenant}); err != nil {
				s.fail(w, r, err)
				return
			}
			req.p, req.tenant = p, p.Tenant
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
	if s.o.RequestsPerMinute < 0 {
		return nil
	}
	key := string(p.Tenant) + "/" + p.TokenID
	s.mu.Lock()
	l, ok := s.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(float64(s.o.RequestsPerMinute)/60), s.o.BurstSize)
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
