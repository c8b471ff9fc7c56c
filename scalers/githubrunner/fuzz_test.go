package githubrunner

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: any metadata is accepted with a URL net/http can
// send and credentials to send, or refused with an ErrInvalidConfig that
// never shows a token; what ParseMetadata accepts New builds.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"githubApiURL=https://api.github.com\nrunnerScope=org\nowner=ownername\nrepos=reponame,otherrepo\nlabels=golang\npersonalAccessToken=tok-secret",
		"runnerScope=repo\nowner=o\nauthModes=bearer\nbearerToken=tok-secret\nenableEtags=true\nnoDefaultLabels=true",
		"runnerScope=ent\nowner=o\napplicationID=1\ninstallationID=2\nappKey=tok-secret",
		"runnerScope=a\nowner=\ntargetWorkflowQueueLength=a\napplicationID=id\npersonalAccessToken=tok-secret",
		"githubApiURL=ftp://x\nrunnerScope=org\nowner=o\nactivationTargetWorkflowQueueLength=-1\ntimeout=5",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		md := scalertest.LinesToMap(in)
		m, err := ParseMetadata(md)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "tok-secret") && !inPlainKey(md, "tok-secret") {
				t.Fatalf("error shows a secret: %v", err)
			}
			return
		}
		if m.Owner == "" || m.Target <= 0 || (m.Scope != ScopeOrg && m.Scope != ScopeEnt && m.Scope != ScopeRepo) {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		if _, tok := m.token(); !tok.IsSet() && !m.useApp() {
			t.Fatalf("accepted metadata without credentials: %+v", m)
		}
		if err := scalers.ValidateHTTPURL("u", m.APIURL); err != nil {
			t.Fatalf("accepted a URL net/http refuses: %v", err)
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) || !strings.Contains(err.Error(), "limit") {
				t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
			}
			return
		}
		_ = s.Close()
	})
}

func inPlainKey(md map[string]string, marker string) bool {
	for k, v := range md {
		if strings.Contains(k, marker) {
			return true
		}
		switch k {
		case "personalAccessToken", "personalAccessTokenFromEnv", "bearerToken", "bearerTokenFromEnv", "appKey", "appKeyFromEnv":
			continue
		}
		if strings.Contains(v, marker) {
			return true
		}
	}
	return false
}

// FuzzAnswers: any answer of the API decodes or is an ErrAnswer (also
// ErrNoData), never a panic; a count of what decodes is 0 or more and at
// most the jobs; any Link header and rate-limit headers parse or fail
// without a panic.
func FuzzAnswers(f *testing.F) {
	for _, seed := range []string{
		`{"total_count":1,"jobs":[{"id":1,"status":"queued","labels":["self-hosted","foo"]}]}`,
		`{"total_count":1,"workflow_runs":[{"id":30433642,"status":"queued","repository":{"name":"Hello-World"}}]}`,
		`[{"id":1,"name":"r"}]`, `{"message":"Bad credentials"}`, `null`, `[] []`, `{"jobs":null}`,
		`{"jobs":[{"labels":[1,2]}]}`, `{"workflow_runs":[{"id":1e99}]}`,
	} {
		f.Add([]byte(seed), `<https://api.github.com/x?page=2>; rel="next"`, "0", "1700000000", "60")
	}
	f.Fuzz(func(t *testing.T, body []byte, link, remaining, reset, retryAfter string) {
		m := Metadata{Labels: []string{"foo"}}
		if jobs, err := ParseJobs(body); err == nil {
			if n := Count(jobs, &m); n < 0 || n > int64(len(jobs)) {
				t.Fatalf("count %d of %d jobs", n, len(jobs))
			}
		} else if !errors.Is(err, ErrAnswer) || !errors.Is(err, scalers.ErrNoData) {
			t.Fatalf("jobs error %v", err)
		}
		if _, err := ParseRuns(body); err != nil && !errors.Is(err, ErrAnswer) {
			t.Fatalf("runs error %v", err)
		}
		if _, err := ParseRepos(body); err != nil && !errors.Is(err, ErrAnswer) {
			t.Fatalf("repos error %v", err)
		}
		_ = NextPage(link)
		now := time.Unix(1_700_000_000, 0)
		h := http.Header{}
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("Retry-After", retryAfter)
		if rl, err := ParseRateLimit(h, now); err == nil {
			if u := rl.Until(now); !u.IsZero() && !u.After(now) {
				t.Fatalf("limited until %v, not after now", u)
			}
		}
	})
}

// secretKeys are the keys that carry a secret.
var secretKeys = append(scalertest.SecretKeys("", "personalAccessToken", "appKey"),
	scalertest.SecretKeys("bearer", "bearerToken")...)

// FuzzSecretNeverShown: whatever the metadata, no error of New or of a
// call to an API that echoes every request (its URL and headers, the
// Authorization header included) into its status line and its JSON
// message, and no log line, shows a token or key.
func FuzzSecretNeverShown(f *testing.F) {
	for pos := range secretKeys {
		f.Add(pos, "", "|")
	}
	for _, seed := range []struct{ in, wrap string }{
		{"enableEtags=true", "ghp_|"},
		{"applicationID=1\ninstallationID=2", "-----BEGIN RSA PRIVATE KEY-----\n|\n-----END RSA PRIVATE KEY-----"},
		{"repos=", "Bearer |"},
		{"githubApiURL=http://S3CRqT9zkW@h", "|"},
	} {
		for pos := range secretKeys {
			f.Add(pos, seed.in, seed.wrap)
		}
	}
	base := map[string]string{"owner": "o", "runnerScope": "org", "repos": "r"}
	echo := scalertest.Echo(422, func(echo string) string {
		b, _ := json.Marshal(map[string]string{"message": echo})
		return string(b)
	})
	f.Fuzz(func(t *testing.T, pos int, in, wrap string) {
		md := scalertest.SecretMetadata(base, secretKeys, pos, in, wrap)
		logs := &scalertest.LogLines{}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: md, Logger: slog.New(logs)}, Options{Transport: echo})
		if err == nil {
			_, err = s.Metrics(t.Context())
			_ = s.Close()
		}
		scalertest.CheckNoSecret(t, err, logs)
	})
}
