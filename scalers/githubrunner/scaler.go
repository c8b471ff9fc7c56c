package githubrunner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const (
	// apiVersion is the REST API version asked for, as KEDA asks.
	apiVersion = "2022-11-28"
	// reposPerPage is the API's default page size, from which KEDA asks
	// for the next page of repositories when there is no Link header.
	reposPerPage = 30
	// MaxPages bounds the pages read of one list.
	MaxPages = 100
	// MaxCacheEntries bounds the answers kept for ETags (KEDA's bound).
	MaxCacheEntries = 5000
	// MaxAnswerBytes caps one answer.
	MaxAnswerBytes = scalers.MaxHTTPAnswerBytes
	// secondaryPause is how long a secondary rate limit (403/429 without
	// Retry-After) stops the requests: GitHub asks for at least a minute.
	secondaryPause = time.Minute
)

// errRateLimited marks a request not sent, or refused, because of a rate
// limit.
var errRateLimited = errors.New("GitHub API rate limit exceeded")

// Options are optional dependencies of a Scaler.
type Options struct {
	// Transport replaces the HTTP transport (nil: a new one).
	Transport http.RoundTripper
	// Clock is the time of rate limits and tokens (nil: the real clock).
	Clock clock.PassiveClock
}

// Scaler counts the jobs runners with the trigger's labels can take. It
// is safe for concurrent use: counts take turns (they share the cache and
// the rate limit). MetricSpecs, Metrics, Value and Close come from
// scalers.Single: one metric, KEDA's "github-runner-<owner>", with
// targetWorkflowQueueLength as its target.
type Scaler struct {
	*scalers.Single
	md      Metadata
	timeout time.Duration
	log     *slog.Logger
	red     *scalers.Redactor
	client  *http.Client
	clock   clock.PassiveClock
	app     *installationTokens

	turn    chan struct{}
	cache   map[string]cached // by URL, with enableEtags
	used    map[string]bool   // URLs of the count under way
	limit   RateLimit
	last    int64
	lastAt  time.Time
	limited time.Time // the limit last logged
}

type cached struct {
	etag string
	body []byte
	link string
}

var _ scalers.Scaler = (*Scaler)(nil)

// New is the scalers.Factory of the github-runner type. It does no I/O.
func New(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
	s, err := NewWithOptions(ctx, cfg, Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewWithOptions is New with explicit dependencies.
func NewWithOptions(_ context.Context, cfg scalers.Config, opts Options) (*Scaler, error) {
	md, err := ParseMetadata(cfg.Metadata, cfg.SecretFiles)
	if err != nil {
		return nil, err
	}
	if fe := cfg.Limits.CheckList("repos", len(md.Repos)); fe != nil {
		return nil, scalers.Invalid(fe)
	}
	if fe := cfg.Limits.CheckList("labels", len(md.Labels)); fe != nil {
		return nil, scalers.Invalid(fe)
	}
	log := cfg.ScalerLogger(Type)
	if cfg.Timeouts.Capped(md.Timeout) {
		log.Info("timeout above the server's maximum, lowered to it",
			"key", "timeout", "asked", md.Timeout, "max", cfg.Timeouts.WithDefaults().Max)
	}
	src, err := scalers.NewHTTPSource(scalers.HTTPSourceOptions{URL: md.APIURL, Auth: &scalers.HTTPAuth{},
		Transport: opts.Transport, Logger: log})
	if err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	s := &Scaler{
		md:      md,
		timeout: cfg.Timeouts.For(md.Timeout),
		log:     log,
		red:     scalers.NewRedactor(md.Token, md.BearerToken, md.AppKey),
		// Redirects are not followed: the token must not go elsewhere.
		client: &http.Client{Transport: src.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		clock: opts.Clock,
		turn:  make(chan struct{}, 1),
		cache: map[string]cached{},
	}
	s.red.AddURL(md.APIURL)
	if md.useApp() {
		s.app = &installationTokens{md: &s.md, client: s.client, clock: opts.Clock}
		s.red.AddFunc(s.app.secrets)
	}
	s.Single = scalers.NewSingle(scalers.SingleOptions{
		Type:    Type,
		Metric:  scalers.MetricSpec{Name: MetricName(md.Owner), Target: float64(md.Target)},
		Read:    s.read,
		Release: src.Close,
		Bound:   s.timeout,
	})
	return s, nil
}

// read counts the jobs, within the bound, and decides the activity:
// KEDA's rule (the count reaches targetWorkflowQueueLength), or above
// activationTargetWorkflowQueueLength when it is set.
func (s *Scaler) read(parent context.Context) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return scalers.Reading{}, s.ctxError(parent, "waiting for the count under way")
	}
	defer func() { <-s.turn }()
	n, err := s.count(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return scalers.Reading{}, s.ctxError(parent, "count")
		}
		return scalers.Reading{}, s.red.Error(err)
	}
	active := n >= s.md.Target
	if s.md.Activation != nil {
		active = n > *s.md.Activation
	}
	return scalers.Reading{Value: float64(n), Active: active}, nil
}

func (s *Scaler) ctxError(parent context.Context, what string) error {
	if err := parent.Err(); err != nil {
		return fmt.Errorf("%s: %s: %w", Type, what, err)
	}
	return scalers.Unavailable(Type, fmt.Errorf("%s: no answer within %s", what, s.timeout))
}

// count is KEDA's GetWorkflowQueueLength. Called with the turn held.
func (s *Scaler) count(ctx context.Context) (int64, error) {
	if until := s.limit.Until(s.clock.Now()); !until.IsZero() {
		return s.cachedCount(until)
	}
	s.used = map[string]bool{}
	n, err := s.countAll(ctx)
	if err != nil {
		if errors.Is(err, errRateLimited) {
			if until := s.limit.Until(s.clock.Now()); !until.IsZero() {
				return s.cachedCount(until)
			}
		}
		return 0, err
	}
	s.last, s.lastAt = n, s.clock.Now()
	s.prune()
	return n, nil
}

// cachedCount is the last count, answered while the rate limit holds
// (KEDA's getCachedQueueLength).
func (s *Scaler) cachedCount(until time.Time) (int64, error) {
	if !until.Equal(s.limited) {
		s.limited = until
		s.log.Info("GitHub API rate limit exceeded: answering the last count until it lifts",
			"until", until, "count", s.last, "countedAt", s.lastAt)
	}
	if s.lastAt.IsZero() {
		return 0, scalers.Unavailable(Type, fmt.Errorf("%w until %s, and no earlier count to answer", errRateLimited, until.UTC().Format(time.RFC3339)))
	}
	return s.last, nil
}

func (s *Scaler) countAll(ctx context.Context) (int64, error) {
	repos, err := s.repos(ctx)
	if err != nil {
		return 0, err
	}
	var runs []Run
	for _, repo := range repos {
		for _, status := range []string{"queued", "in_progress"} {
			rs, err := s.runs(ctx, repo, status)
			if err != nil {
				return 0, err
			}
			runs = append(runs, rs...)
		}
	}
	var n int64
	for _, r := range runs {
		if !Active(r.Status) {
			continue
		}
		repo := r.Repository.Name
		if repo == "" {
			repo = "?"
		}
		jobs, err := s.jobs(ctx, repo, r.ID)
		if err != nil {
			return 0, err
		}
		n += Count(jobs, &s.md)
	}
	return n, nil
}

// repos lists the repositories: repos, else the owner's (/orgs/ for org
// and ent, /users/ for repo), page by page as KEDA asks (?page=N) while
// the Link header has a next page, or (without one) while a page is full.
func (s *Scaler) repos(ctx context.Context) ([]string, error) {
	if len(s.md.Repos) > 0 {
		return s.md.Repos, nil
	}
	kind := "orgs"
	if s.md.Scope == ScopeRepo {
		kind = "users"
	}
	var names []string
	for page := 1; page <= MaxPages; page++ {
		u := fmt.Sprintf("%s/%s/%s/repos?page=%d", s.md.APIURL, kind, url.PathEscape(s.md.Owner), page)
		a, err := s.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, s.statusError(u, a)
		}
		repos, err := ParseRepos(a.body)
		if err != nil {
			return nil, s.answerError(u, err)
		}
		for _, r := range repos {
			names = append(names, r.Name)
		}
		if a.link != "" {
			if NextPage(a.link) == "" {
				break
			}
		} else if len(repos) < reposPerPage {
			break
		}
	}
	return names, nil
}

// runs lists a repository's runs of a status; a repository the API does
// not find has none (KEDA passes over it).
func (s *Scaler) runs(ctx context.Context, repo, status string) ([]Run, error) {
	base := fmt.Sprintf("%s/repos/%s/%s/actions/runs?status=%s&per_page=100", s.md.APIURL,
		url.PathEscape(s.md.Owner), url.PathEscape(repo), url.QueryEscape(status))
	var out []Run
	for page := 1; page <= MaxPages; page++ {
		u := base
		if page > 1 {
			u += "&page=" + strconv.Itoa(page)
		}
		a, err := s.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if a.status == http.StatusNotFound {
			return nil, nil
		}
		if a.status != http.StatusOK {
			return nil, s.statusError(u, a)
		}
		runs, err := ParseRuns(a.body)
		if err != nil {
			return nil, s.answerError(u, err)
		}
		out = append(out, runs...)
		if NextPage(a.link) == "" {
			break
		}
	}
	return out, nil
}

// jobs lists a run's jobs.
func (s *Scaler) jobs(ctx context.Context, repo string, runID int64) ([]Job, error) {
	base := fmt.Sprintf("%s/repos/%s/%s/actions/runs/%d/jobs?per_page=100", s.md.APIURL,
		url.PathEscape(s.md.Owner), url.PathEscape(repo), runID)
	var out []Job
	for page := 1; page <= MaxPages; page++ {
		u := base
		if page > 1 {
			u += "&page=" + strconv.Itoa(page)
		}
		a, err := s.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, s.statusError(u, a)
		}
		jobs, err := ParseJobs(a.body)
		if err != nil {
			return nil, s.answerError(u, err)
		}
		out = append(out, jobs...)
		if NextPage(a.link) == "" {
			break
		}
	}
	return out, nil
}

// answer is one answer of the API: 200 (a 304 given as the kept 200), or
// another status with its body.
type answer struct {
	status int
	body   []byte
	link   string
}

// get sends one GET (with If-None-Match when an answer is kept), reads
// the rate limit of the answer, and keeps a 200's answer with its ETag.
// A 304 without a kept answer is asked again without the ETag (KEDA's
// stale-ETag retry).
func (s *Scaler) get(ctx context.Context, u string) (answer, error) {
	s.used[u] = true
	a, err := s.send(ctx, u, true)
	if err == nil && a.status == http.StatusNotModified {
		if c, ok := s.cache[u]; ok && c.body != nil {
			return answer{status: http.StatusOK, body: c.body, link: c.link}, nil
		}
		delete(s.cache, u)
		a, err = s.send(ctx, u, false)
		if err == nil && a.status == http.StatusNotModified {
			return answer{}, scalers.Unavailable(Type, fmt.Errorf("GET %s: 304 Not Modified to a request without If-None-Match", s.shown(u)))
		}
	}
	return a, err
}

func (s *Scaler) send(ctx context.Context, u string, conditional bool) (answer, error) {
	if until := s.limit.Until(s.clock.Now()); !until.IsZero() {
		return answer{}, errRateLimited
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return answer{}, scalers.Unavailable(Type, fmt.Errorf("GET %s: cannot build the request", s.shown(u)))
	}
	req.Header.Set("Accept", "application/vnd.github.v3+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	tok, err := s.bearer(ctx)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if c, ok := s.cache[u]; ok && conditional && s.md.EnableEtags && c.etag != "" {
		req.Header.Set("If-None-Match", c.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		return answer{}, scalers.Unavailable(Type, fmt.Errorf("GET %s: %w", s.shown(u), transportError(err)))
	}
	defer resp.Body.Close()
	now := s.clock.Now()
	rl, rlErr := ParseRateLimit(resp.Header, now)
	if rlErr != nil {
		s.log.Debug("rate-limit header not understood", "error", rlErr)
	} else if rl.Known || !rl.RetryAfter.IsZero() {
		s.limit = rl
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		return answer{}, scalers.Unavailable(Type, fmt.Errorf("GET %s: %w", s.shown(u), transportError(err)))
	}
	if len(body) > MaxAnswerBytes {
		return answer{}, scalers.Unavailable(Type, fmt.Errorf("GET %s: answer larger than %d MiB", s.shown(u), MaxAnswerBytes>>20))
	}
	a := answer{status: resp.StatusCode, body: body, link: resp.Header.Get("Link")}
	switch resp.StatusCode {
	case http.StatusOK:
		if s.md.EnableEtags {
			if etag := resp.Header.Get("ETag"); etag != "" {
				s.cache[u] = cached{etag: etag, body: body, link: a.link}
			}
		}
	case http.StatusUnauthorized:
		if s.app != nil {
			// The installation token was revoked: get a new one next time.
			s.app.forget(tok)
		}
	case http.StatusForbidden, http.StatusTooManyRequests:
		if s.limit.Until(now).IsZero() && (resp.StatusCode == http.StatusTooManyRequests ||
			bytes.Contains(bytes.ToLower(body), []byte("rate limit"))) {
			// A secondary rate limit without a Retry-After: GitHub asks
			// for at least a minute's pause.
			s.limit.RetryAfter = now.Add(secondaryPause)
		}
		if !s.limit.Until(now).IsZero() {
			return answer{}, errRateLimited
		}
	}
	return a, nil
}

// bearer is the token of the requests: the App's installation token, or
// the personal access token as it is now.
func (s *Scaler) bearer(ctx context.Context) (string, error) {
	if s.app != nil {
		tok, err := s.app.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", scalers.Unavailable(Type, err)
		}
		return tok, nil
	}
	key, sec := s.md.token()
	tok, err := scalers.ReadSecret(key, sec)
	if err != nil {
		return "", scalers.Unavailable(Type, err)
	}
	return tok, nil
}

// statusError words an answer other than 200.
func (s *Scaler) statusError(u string, a answer) error {
	return scalers.Unavailable(Type, fmt.Errorf("GET %s: status %d%s", s.shown(u), a.status, apiMessage(a.body)))
}

func (s *Scaler) answerError(u string, err error) error {
	return fmt.Errorf("%s: GET %s: %w", Type, s.shown(u), err)
}

// shown is a URL as errors name it: its path and query, without the
// API's base.
func (s *Scaler) shown(u string) string {
	if len(u) > len(s.md.APIURL) && u[:len(s.md.APIURL)] == s.md.APIURL {
		return scalers.Excerpt(u[len(s.md.APIURL):])
	}
	return scalers.Excerpt(scalers.RedactURL(u))
}

// prune drops the kept answers the last count did not use, and bounds
// them (KEDA's pruneCaches and pruneCompletedJobs).
func (s *Scaler) prune() {
	for u := range s.cache {
		if !s.used[u] {
			delete(s.cache, u)
		}
	}
	over := len(s.cache) - MaxCacheEntries
	for u := range s.cache {
		if over <= 0 {
			break
		}
		delete(s.cache, u)
		over--
	}
}
