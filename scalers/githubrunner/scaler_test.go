package githubrunner

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const kedaRun = 30433642

// kedaServer is KEDA's apiStubHandler: repository "test" of testOwner with
// one queued run (of repository Hello-World) and a completed one, none in
// progress; the queued run has one queued job with jobLabels; the user's
// repositories are Hello-World and Hello-World-2, each with that run.
func kedaServer(t *testing.T, jobLabels ...string) *fakeGitHub {
	t.Helper()
	f := newFakeGitHub(t)
	f.tokens["testpat"] = true
	job := Job{ID: 399444496, Status: "queued", Labels: nonNil(jobLabels)}
	f.addRun("testOwner", "test", kedaRun, "queued", job)
	f.addRun("testOwner", "test", 30433643, "completed")
	f.repos["testOwner"] = []string{"Hello-World", "Hello-World-2"}
	for i, repo := range f.repos["testOwner"] {
		f.addRun("testOwner", repo, int64(100+i), "queued", job)
	}
	return f
}

func build(t *testing.T, f *fakeGitHub, opts Options, kv ...string) *Scaler {
	t.Helper()
	md := scalertest.WithKeys(map[string]string{"githubApiURL": f.URL, "owner": "testOwner", "runnerScope": "repo",
		"personalAccessToken": "testpat"}, kv...)
	s, err := NewWithOptions(t.Context(), scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: 5 * time.Second},
		Logger: slog.New(slog.DiscardHandler)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func value(t *testing.T, s *Scaler) (float64, error) {
	t.Helper()
	return s.Value(t.Context())
}

// TestQueueLengthKEDA: KEDA's TestNewGitHubRunnerScaler_QueueLength_*
// label cases, with KEDA's counts.
func TestQueueLengthKEDA(t *testing.T) {
	withDefault := []string{"self-hosted", "foo", "bar"}
	tests := []struct {
		name      string
		jobLabels []string
		kv        []string
		want      float64
	}{
		{"single repo", withDefault, []string{"labels", "foo,bar"}, 1},
		{"extra runner labels", withDefault, []string{"labels", "foo,bar,other,more"}, 1},
		{"less runner labels", withDefault, []string{"labels", "foo"}, 0},
		{"scaler default labels, job default labels", withDefault, []string{"labels", "foo,bar", "noDefaultLabels", "false"}, 1},
		{"scaler default labels, no job default labels", []string{"foo", "bar"}, []string{"labels", "foo,bar", "noDefaultLabels", "false"}, 1},
		{"no scaler default labels, job default labels", withDefault, []string{"labels", "foo,bar", "noDefaultLabels", "true"}, 0},
		{"no scaler default labels, no job default labels", []string{"foo", "bar"}, []string{"labels", "foo,bar", "noDefaultLabels", "true"}, 1},
		{"scaler labels, unlabeled job matched with unlabeled runners", nil, []string{"labels", "foo,bar", "matchUnlabeledJobsWithUnlabeledRunners", "true"}, 0},
		{"no runner labels", withDefault, nil, 0},
		{"labels are case-insensitive", []string{"Foo", "BAR"}, []string{"labels", "foo,bar"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := kedaServer(t, tt.jobLabels...)
			s := build(t, f, Options{}, append([]string{"repos", "test"}, tt.kv...)...)
			got, err := value(t, s)
			if err != nil || got != tt.want {
				t.Fatalf("count %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestMultiRepoKEDA: KEDA's MultiRepo cases: assigned repositories (one
// the API does not find, passed over), the user's, the organization's and
// the enterprise's repositories listed, and a first page of 30
// repositories the API does not find followed by a second page.
func TestMultiRepoKEDA(t *testing.T) {
	for _, tt := range []struct {
		name string
		kv   []string
		bad  int
	}{
		{"assigned", []string{"repos", "Hello-World,Hello-World-2"}, 0},
		{"assigned, one bad", []string{"repos", "Hello-World,Hello-World-2,BadRepo"}, 0},
		{"pulled user repos", nil, 0},
		{"pulled org repos", []string{"runnerScope", "org"}, 0},
		{"pulled ent repos", []string{"runnerScope", "ent"}, 0},
		{"pulled user repos, more than 30", nil, 30},
	} {
		for _, noLink := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, no Link %v", tt.name, noLink), func(t *testing.T) {
				f := kedaServer(t, "foo", "bar")
				f.noLink = noLink
				var bad []string
				for range tt.bad {
					bad = append(bad, "BadRepo")
				}
				f.repos["testOwner"] = append(bad, f.repos["testOwner"]...)
				s := build(t, f, Options{}, append([]string{"labels", "foo,bar"}, tt.kv...)...)
				got, err := value(t, s)
				if err != nil || got != 2 {
					t.Fatalf("count %v, %v; want 2 (requests %q)", got, err, f.log())
				}
				kind := "/users/"
				if strings.Contains(strings.Join(tt.kv, ","), "org") || strings.Contains(strings.Join(tt.kv, ","), "ent") {
					kind = "/orgs/"
				}
				if tt.kv == nil || kind == "/orgs/" {
					if first := f.log()[0]; first != "GET "+kind+"testOwner/repos?page=1" {
						t.Errorf("first request %s", first)
					}
				}
			})
		}
	}
}

// TestPagination: runs and jobs past one page of 100 are all read,
// following the Link header.
func TestPagination(t *testing.T) {
	f := newFakeGitHub(t)
	f.tokens["testpat"] = true
	for i := range 150 {
		f.addRun("testOwner", "big", int64(1000+i), "queued")
	}
	var jobs []Job
	for i := range 230 {
		jobs = append(jobs, Job{ID: int64(i), Status: "queued", Labels: []string{"linux"}})
	}
	f.setJobs(1000, jobs...)
	s := build(t, f, Options{}, "repos", "big")
	got, err := value(t, s)
	if err != nil || got != 230 {
		t.Fatalf("count %v, %v; want 230", got, err)
	}
	pages := 0
	for _, r := range f.log() {
		if strings.Contains(r, "/runs/1000/jobs") {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("%d pages of jobs asked, want 3", pages)
	}
}

// TestActivity: KEDA's rule (active from targetWorkflowQueueLength on),
// and activationTargetWorkflowQueueLength (active above it) when set.
func TestActivity(t *testing.T) {
	f := kedaServer(t, "foo")
	for _, tt := range []struct {
		kv     []string
		active bool
	}{
		{nil, true},
		{[]string{"targetWorkflowQueueLength", "2"}, false},
		{[]string{"targetWorkflowQueueLength", "2", "activationTargetWorkflowQueueLength", "0"}, true},
		{[]string{"activationTargetWorkflowQueueLength", "1"}, false},
	} {
		s := build(t, f, Options{}, append([]string{"repos", "test", "labels", "foo"}, tt.kv...)...)
		m, err := s.Metrics(t.Context())
		if err != nil || m.Active != tt.active || m.Values[0].Value != 1 || m.Values[0].Name != "github-runner-testOwner" {
			t.Errorf("%v: %+v, %v; want active %v", tt.kv, m, err, tt.active)
		}
	}
}

// TestETags: with enableEtags, the second count asks every URL with
// If-None-Match and is answered 304 throughout (KEDA's
// ..._WithNotModified); a change is seen at once; a 304 to an ETag whose
// answer was dropped is asked again without it (KEDA's stale-ETag
// retries); without enableEtags no If-None-Match is sent.
func TestETags(t *testing.T) {
	f := kedaServer(t, "foo")
	s := build(t, f, Options{}, "labels", "foo", "enableEtags", "true")
	for i := range 2 {
		if got, err := value(t, s); err != nil || got != 2 {
			t.Fatalf("count %d: %v, %v", i, got, err)
		}
	}
	first := len(f.log())
	if f.notModified == 0 || f.notModified != first/2 {
		t.Errorf("%d answers 304 of %d requests", f.notModified, first)
	}
	f.setJobs(100, Job{Status: "queued", Labels: []string{"foo"}}, Job{Status: "in_progress", Labels: []string{"foo"}})
	if got, err := value(t, s); err != nil || got != 3 {
		t.Fatalf("after a change: %v, %v", got, err)
	}
	// An ETag kept without its answer (as after KEDA's pruning).
	for u, c := range s.cache {
		s.cache[u] = cached{etag: c.etag}
	}
	if got, err := value(t, s); err != nil || got != 3 {
		t.Fatalf("stale ETags: %v, %v", got, err)
	}
	plain := build(t, f, Options{}, "labels", "foo")
	before := f.notModified
	for range 2 {
		if _, err := value(t, plain); err != nil {
			t.Fatal(err)
		}
	}
	if f.notModified != before {
		t.Errorf("If-None-Match sent without enableEtags")
	}
}

// TestRateLimit: KEDA's ..._NoRateLeft (no count yet: an error) and
// ..._WithRateLimit (the last count answered while limited); no request
// is sent while the limit holds, and counting starts again once it
// lifts (the clock stepped past X-RateLimit-Reset).
func TestRateLimit(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	f := kedaServer(t, "foo")
	f.remaining, f.reset = 0, clk.Now().Add(30*time.Minute)
	s := build(t, f, Options{Clock: clk}, "repos", "test", "labels", "foo")
	_, err := value(t, s)
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "GitHub API rate limit exceeded until", "no earlier count to answer")

	f.mu.Lock()
	f.remaining = 4 // enough for the runs, not for the jobs of a second count
	f.mu.Unlock()
	clk.Step(31 * time.Minute)
	if got, err := value(t, s); err != nil || got != 1 {
		t.Fatalf("first count: %v, %v", got, err)
	}
	f.mu.Lock()
	f.reset = clk.Now().Add(30 * time.Minute)
	f.mu.Unlock()
	if got, err := value(t, s); err != nil || got != 1 {
		t.Fatalf("rate limited: %v, %v; want the last count", got, err)
	}
	n := len(f.log())
	if got, err := value(t, s); err != nil || got != 1 || len(f.log()) != n {
		t.Fatalf("while limited: %v, %v, %d requests sent", got, err, len(f.log())-n)
	}
	f.mu.Lock()
	f.remaining = 100
	f.mu.Unlock()
	clk.Step(31 * time.Minute)
	f.setJobs(kedaRun, Job{Status: "queued", Labels: []string{"foo"}}, Job{Status: "queued", Labels: []string{"foo"}})
	if got, err := value(t, s); err != nil || got != 2 {
		t.Fatalf("after the reset: %v, %v", got, err)
	}
}

// TestSecondaryRateLimit: a 403 or 429 secondary limit, with a
// Retry-After or without (then a minute), stops the requests until then;
// the last count is answered meanwhile.
func TestSecondaryRateLimit(t *testing.T) {
	for _, tt := range []struct {
		status     int
		retryAfter string
		pause      time.Duration
	}{{403, "120", 2 * time.Minute}, {429, "", time.Minute}, {403, "", time.Minute}, {429, "7", 7 * time.Second}} {
		t.Run(fmt.Sprintf("%d retry-after %q", tt.status, tt.retryAfter), func(t *testing.T) {
			clk := testclock.NewFakeClock(time.Now())
			f := kedaServer(t, "foo")
			s := build(t, f, Options{Clock: clk}, "repos", "test", "labels", "foo")
			if got, err := value(t, s); err != nil || got != 1 {
				t.Fatalf("first count: %v, %v", got, err)
			}
			f.mu.Lock()
			f.secondary, f.retryAfter = tt.status, tt.retryAfter
			f.mu.Unlock()
			if got, err := value(t, s); err != nil || got != 1 {
				t.Fatalf("limited: %v, %v", got, err)
			}
			n := len(f.log())
			clk.Step(tt.pause - time.Second)
			if _, err := value(t, s); err != nil || len(f.log()) != n {
				t.Fatalf("a request sent before the pause ended: %v", err)
			}
			clk.Step(2 * time.Second)
			if _, err := value(t, s); err != nil || len(f.log()) == n {
				t.Fatalf("no request after the pause: %v", err)
			}
		})
	}
}

// TestErrorsKEDA: KEDA's _404 (a status error naming 404), _BadConnection
// (connection refused) and PulledBadRepos (refused here when parsed);
// bad credentials and answers that are not the API's.
func TestErrorsKEDA(t *testing.T) {
	f := newFakeGitHub(t)
	f.tokens["testpat"] = true
	s := build(t, f, Options{}, "owner", "nobody")
	_, err := value(t, s)
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "github-runner: GET /users/nobody/repos?page=1: status 404")

	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	addr := l.Addr().String()
	_ = l.Close()
	down, err := New(t.Context(), scalers.Config{Metadata: map[string]string{"githubApiURL": "http://" + addr, "owner": "o",
		"runnerScope": "org", "repos": "r", "personalAccessToken": "tok-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	_, err = down.Metrics(t.Context())
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "connect: connection refused")

	_, err = ParseMetadata(map[string]string{"owner": "o", "runnerScope": "bad", "personalAccessToken": "t"})
	scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, `runnerScope "bad"`)

	wrong := build(t, f, Options{}, "personalAccessToken", "ghp_wrong-secret", "repos", "r")
	_, err = value(t, wrong)
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, `status 401 (message "Bad credentials")`)
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error shows the token: %v", err)
	}
}

// TestHostileSources: a black hole, TLS answering plain HTTP and garbage:
// every call returns within the bound with ErrUnavailable and never shows
// the token; once the source is back, the count is right.
func TestHostileSources(t *testing.T) {
	pki := testenv.NewPKI(t)
	f := kedaServer(t, "foo")
	f.tokens["tok-secret-1"] = true
	for _, mode := range []scalertest.SwitchMode{scalertest.BlackHoleMode, scalertest.ServeHTTPS, scalertest.GarbageMode} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			src := scalertest.NewSwitchServer(t, f.Config.Handler, &tls.Config{Certificates: []tls.Certificate{pki.ServerCert(t).Pair}}, mode)
			s, err := New(t.Context(), scalers.Config{Metadata: map[string]string{"githubApiURL": "http://" + src.Addr(), "owner": "testOwner",
				"runnerScope": "org", "repos": "test", "labels": "foo", "personalAccessToken": "tok-secret-1", "timeout": "500"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 2 {
				err = scalertest.ReturnsWithin(t, 500*time.Millisecond, fmt.Sprintf("call %d", i+1), func() error { _, err := s.Metrics(context.Background()); return err })
				scalertest.CheckErr(t, err, scalers.ErrUnavailable, "github-runner: ")
				if strings.Contains(err.Error(), "tok-secret") {
					t.Errorf("error shows the token: %v", err)
				}
			}
			src.Set(scalertest.ServeHTTP)
			scalertest.Eventually(t, 30*time.Second, "a count once the source is back", func() error {
				m, err := s.Metrics(t.Context())
				if err == nil && m.Values[0].Value != 1 {
					err = fmt.Errorf("count %v", m.Values[0].Value)
				}
				return err
			})
		})
	}
}

// appKey is a new RSA key in PKCS #1 PEM, as GitHub hands out App keys.
func appKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// TestGitHubApp: with applicationID, installationID and appKey the scaler
// signs a JWT, gets an installation token, counts with it, keeps it until
// a minute before it expires, gets a new one after a 401, and shows
// neither the key nor a token in errors.
func TestGitHubApp(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	f := kedaServer(t, "foo")
	key, keyPEM := appKey(t)
	f.appID, f.installation, f.appKey, f.tokenTTL, f.now = 42, 7, &key.PublicKey, 10*time.Minute, clk.Now
	s := build(t, f, Options{Clock: clk}, "personalAccessToken", "", "applicationID", "42", "installationID", "7",
		"appKey", keyPEM, "repos", "test", "labels", "foo")
	for i := range 3 {
		if got, err := value(t, s); err != nil || got != 1 {
			t.Fatalf("count %d: %v, %v", i, got, err)
		}
	}
	if f.issued != 1 {
		t.Errorf("%d tokens issued for three counts, want 1", f.issued)
	}
	clk.Step(9*time.Minute + time.Second) // within a minute of the expiry
	if _, err := value(t, s); err != nil || f.issued != 2 {
		t.Fatalf("renewal: %v, %d issued", err, f.issued)
	}
	f.mu.Lock()
	f.tokens = map[string]bool{} // every token revoked
	f.mu.Unlock()
	_, err := value(t, s)
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "status 401")
	if strings.Contains(err.Error(), "ghs_") || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("error shows a secret: %v", err)
	}
	if got, err := value(t, s); err != nil || got != 1 || f.issued != 3 {
		t.Fatalf("after the 401: %v, %v, %d issued", got, err, f.issued)
	}

	other, _ := appKey(t)
	f.appKey = &other.PublicKey
	wrongKey := build(t, f, Options{Clock: clk}, "personalAccessToken", "", "applicationID", "42", "installationID", "7",
		"appKey", keyPEM, "repos", "test")
	_, err = value(t, wrongKey)
	scalertest.CheckErr(t, err, scalers.ErrUnavailable, "installation token: POST /app/installations/7/access_tokens: status 401")
}

// TestConcurrentCounts: counts take turns and each is right.
func TestConcurrentCounts(t *testing.T) {
	f := kedaServer(t, "foo")
	s := build(t, f, Options{}, "labels", "foo", "enableEtags", "true")
	scalertest.Concurrently(t, 4, 5, func() error {
		v, err := s.Value(context.Background())
		if err == nil && v != 2 {
			err = fmt.Errorf("count %v", v)
		}
		return err
	})
}

func appKeyPEM(t *testing.T) (*rsa.PrivateKey, string) { return appKey(t) }
