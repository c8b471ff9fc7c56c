package githubrunner

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is an httptest server that speaks the shapes of the GitHub
// REST API the scaler reads: the repositories of an organization or a
// user (30 a page, with Link headers unless noLink), a repository's
// workflow runs by status and a run's jobs (per_page, Link), bearer
// tokens (401 "Bad credentials" otherwise), ETags with 304 for
// If-None-Match, the primary rate limit (X-RateLimit-Remaining/-Reset, 403
// once spent; a 304 costs nothing, as on GitHub), secondary limits (403
// or 429, with or without Retry-After), and a GitHub App's installation
// tokens (POST /app/installations/{id}/access_tokens with an RS256 JWT
// checked against the App's public key).
type fakeGitHub struct {
	*httptest.Server
	t testing.TB

	mu sync.Mutex
	// repos of each owner; runs of each "owner/repo"; jobs of each run.
	repos map[string][]string
	runs  map[string][]Run
	jobs  map[int64][]Job
	// tokens accepted (personal access tokens and issued installation
	// tokens).
	tokens map[string]bool
	// noLink leaves out Link headers (KEDA's rule for pages then).
	noLink bool
	// remaining requests before the primary limit; <0: no limit headers.
	remaining int
	reset     time.Time
	// secondary, when set, answers the next request with it (403 or 429)
	// and retryAfter (seconds, "" for none).
	secondary  int
	retryAfter string
	// app: its id, installation and public key; tokens expire after
	// tokenTTL.
	appID, installation int64
	appKey              *rsa.PublicKey
	tokenTTL            time.Duration
	issued              int
	// now is the server's clock (the test's fake clock).
	now func() time.Time
	// requests are "METHOD path?query" as asked; notModified counts 304s.
	requests    []string
	notModified int
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{t: t, repos: map[string][]string{}, runs: map[string][]Run{}, jobs: map[int64][]Job{},
		tokens: map[string]bool{}, remaining: -1, tokenTTL: time.Hour, now: time.Now}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) addRun(owner, repo string, id int64, status string, jobs ...Job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[owner+"/"+repo] = append(f.runs[owner+"/"+repo], Run{ID: id, Status: status, Repository: Repo{Name: repo}})
	f.jobs[id] = jobs
}

func (f *fakeGitHub) setJobs(id int64, jobs ...Job) {
	f.mu.Lock()
	f.jobs[id] = jobs
	f.mu.Unlock()
}

func (f *fakeGitHub) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.Method == http.MethodPost {
		f.issueToken(w, r)
		return
	}
	if r.Header.Get("X-GitHub-Api-Version") != apiVersion || !strings.Contains(r.Header.Get("Accept"), "json") {
		apiError(w, http.StatusBadRequest, "missing API version or Accept")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[tok] {
		apiError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if f.secondary != 0 {
		status := f.secondary
		f.secondary = 0
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		apiError(w, status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
		return
	}
	if f.remaining >= 0 {
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.reset.Unix(), 10))
		if f.remaining == 0 {
			w.Header().Set("X-RateLimit-Remaining", "0")
			apiError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.")
			return
		}
	}
	body, link, status := f.route(r.URL)
	if status != http.StatusOK {
		f.setRemaining(w, true)
		apiError(w, status, "Not Found")
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	if link != "" && !f.noLink {
		w.Header().Set("Link", link)
	}
	if r.Header.Get("If-None-Match") == etag {
		f.notModified++
		f.setRemaining(w, false)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f.setRemaining(w, true)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func (f *fakeGitHub) setRemaining(w http.ResponseWriter, spend bool) {
	if f.remaining < 0 {
		return
	}
	if spend {
		f.remaining--
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(f.remaining))
}

// route answers a GET: the body, its Link header and the status.
func (f *fakeGitHub) route(u *url.URL) ([]byte, string, int) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	q := u.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	perPage, _ := strconv.Atoi(q.Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	switch {
	case len(parts) == 3 && (parts[0] == "orgs" || parts[0] == "users") && parts[2] == "repos":
		names, ok := f.repos[parts[1]]
		if !ok {
			return nil, "", http.StatusNotFound
		}
		items, link := paginate(u, names, page, perPage)
		repos := make([]map[string]any, 0, len(items))
		for i, n := range items {
			repos = append(repos, map[string]any{"id": i + 1, "name": n, "full_name": parts[1] + "/" + n, "private": false})
		}
		b, _ := json.Marshal(repos)
		return b, link, http.StatusOK
	case len(parts) == 5 && parts[0] == "repos" && parts[3] == "actions" && parts[4] == "runs":
		all, ok := f.runs[parts[1]+"/"+parts[2]]
		if !ok {
			return nil, "", http.StatusNotFound
		}
		var match []Run
		for _, r := range all {
			if q.Get("status") == "" || r.Status == q.Get("status") {
				match = append(match, r)
			}
		}
		items, link := paginate(u, match, page, perPage)
		b, _ := json.Marshal(map[string]any{"total_count": len(match), "workflow_runs": nonNil(items)})
		return b, link, http.StatusOK
	case len(parts) == 7 && parts[0] == "repos" && parts[3] == "actions" && parts[4] == "runs" && parts[6] == "jobs":
		id, _ := strconv.ParseInt(parts[5], 10, 64)
		jobs, ok := f.jobs[id]
		if !ok {
			return nil, "", http.StatusNotFound
		}
		items, link := paginate(u, jobs, page, perPage)
		b, _ := json.Marshal(map[string]any{"total_count": len(jobs), "jobs": nonNil(items)})
		return b, link, http.StatusOK
	}
	return nil, "", http.StatusNotFound
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// paginate returns page of items and GitHub's Link header (next and last,
// prev and first) for it.
func paginate[T any](u *url.URL, items []T, page, perPage int) ([]T, string) {
	pages := max(1, (len(items)+perPage-1)/perPage)
	from, to := min((page-1)*perPage, len(items)), min(page*perPage, len(items))
	ref := func(p int, rel string) string {
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, "api.example", u.Path, v.Encode(), rel)
	}
	var links []string
	if page < pages {
		links = append(links, ref(page+1, "next"), ref(pages, "last"))
	}
	if page > 1 {
		links = append(links, ref(page-1, "prev"), ref(1, "first"))
	}
	return items[from:to], strings.Join(links, ", ")
}

// issueToken checks the App's JWT and issues an installation token.
func (f *fakeGitHub) issueToken(w http.ResponseWriter, r *http.Request) {
	want := fmt.Sprintf("/app/installations/%d/access_tokens", f.installation)
	if f.appKey == nil || r.URL.Path != want {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := checkJWT(jwt, f.appKey, f.appID, f.now()); err != nil {
		apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded: "+err.Error())
		return
	}
	f.issued++
	tok := fmt.Sprintf("ghs_installation%dtoken%d", f.installation, f.issued)
	f.tokens[tok] = true
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": f.now().Add(f.tokenTTL).UTC().Format(time.RFC3339)})
}

// checkJWT verifies an RS256 JWT as GitHub does: the signature, iss the
// App's id, iat not in the future, exp at most 10 minutes after iat.
func checkJWT(jwt string, key *rsa.PublicKey, appID int64, now time.Time) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	enc := base64.RawURLEncoding
	var header struct{ Alg, Typ string }
	hb, _ := enc.DecodeString(parts[0])
	if json.Unmarshal(hb, &header) != nil || header.Alg != "RS256" {
		return fmt.Errorf("alg %q", header.Alg)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var claims struct {
		Iat, Exp int64
		Iss      string
	}
	cb, _ := enc.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil {
		return err
	}
	if claims.Iss != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("iss %q", claims.Iss)
	}
	if claims.Iat > now.Unix()+1 || claims.Exp-claims.Iat > 600 || claims.Exp < now.Unix() {
		return fmt.Errorf("iat %d exp %d", claims.Iat, claims.Exp)
	}
	return nil
}
