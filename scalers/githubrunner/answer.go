package githubrunner

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// ErrAnswer marks an answer of the API that is not the JSON expected; it
// is also a scalers.ErrNoData.
var ErrAnswer error = noData("unexpected answer")

type noData string

func (e noData) Error() string        { return string(e) }
func (e noData) Is(target error) bool { return target == scalers.ErrNoData }

// Repo is what the count needs of a repository.
type Repo struct {
	Name string `json:"name"`
}

// Run is what the count needs of a workflow run.
type Run struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	Repository Repo   `json:"repository"`
}

// Job is what the count needs of a workflow job.
type Job struct {
	ID     int64    `json:"id"`
	Status string   `json:"status"`
	Labels []string `json:"labels"`
}

// ParseRepos decodes a list of repositories (GET /orgs/{owner}/repos,
// /users/{owner}/repos).
func ParseRepos(body []byte) ([]Repo, error) {
	var repos []Repo
	if err := decode(body, &repos); err != nil {
		return nil, err
	}
	return repos, nil
}

// ParseRuns decodes a page of workflow runs (GET
// /repos/{owner}/{repo}/actions/runs).
func ParseRuns(body []byte) ([]Run, error) {
	var page struct {
		Runs *[]Run `json:"workflow_runs"`
	}
	if err := decode(body, &page); err != nil {
		return nil, err
	}
	if page.Runs == nil {
		return nil, fmt.Errorf("%w: no workflow_runs in the answer", ErrAnswer)
	}
	return *page.Runs, nil
}

// ParseJobs decodes a page of a run's jobs (GET
// /repos/{owner}/{repo}/actions/runs/{id}/jobs).
func ParseJobs(body []byte) ([]Job, error) {
	var page struct {
		Jobs *[]Job `json:"jobs"`
	}
	if err := decode(body, &page); err != nil {
		return nil, err
	}
	if page.Jobs == nil {
		return nil, fmt.Errorf("%w: no jobs in the answer", ErrAnswer)
	}
	return *page.Jobs, nil
}

func decode(body []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(body)))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: not the JSON expected: %s", ErrAnswer, scalers.Excerpt(err.Error()))
	}
	if d.More() {
		return fmt.Errorf("%w: data after the JSON value", ErrAnswer)
	}
	return nil
}

// NextPage returns the URL of the rel="next" link of a Link header, or
// "" when there is none (the last page).
func NextPage(link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "rel" && strings.Contains(" "+strings.Trim(strings.TrimSpace(v), `"`)+" ", " next ") {
				return target[1 : len(target)-1]
			}
		}
	}
	return ""
}

// RateLimit is what the rate-limit headers of one answer say.
type RateLimit struct {
	// Known: the answer had X-RateLimit-Remaining.
	Known     bool
	Remaining int64
	Reset     time.Time
	// RetryAfter is now plus Retry-After (zero without one).
	RetryAfter time.Time
}

// ParseRateLimit reads X-RateLimit-Remaining, X-RateLimit-Reset (Unix
// seconds) and Retry-After (seconds, or an HTTP date) as of now. A header
// that does not parse is an error naming it.
func ParseRateLimit(h http.Header, now time.Time) (RateLimit, error) {
	var rl RateLimit
	if v := h.Get("X-RateLimit-Remaining"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return RateLimit{}, fmt.Errorf("X-RateLimit-Remaining %s is not a count", scalers.Quote(v))
		}
		rl.Known, rl.Remaining = true, n
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return RateLimit{}, fmt.Errorf("X-RateLimit-Reset %s is not a Unix time", scalers.Quote(v))
		}
		rl.Reset = time.Unix(n, 0)
	}
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 && n < 1<<31 {
			rl.RetryAfter = now.Add(time.Duration(n) * time.Second)
		} else if t, err := http.ParseTime(v); err == nil {
			rl.RetryAfter = t
		} else {
			return RateLimit{}, fmt.Errorf("Retry-After %s is neither seconds nor an HTTP date", scalers.Quote(v))
		}
	}
	return rl, nil
}

// Until is when the limit lifts, or the zero time when requests may be
// sent at now: the primary limit spent before its reset, or a
// Retry-After in the future.
func (rl RateLimit) Until(now time.Time) time.Time {
	var until time.Time
	if rl.Known && rl.Remaining == 0 && now.Before(rl.Reset) {
		until = rl.Reset
	}
	if now.Before(rl.RetryAfter) && rl.RetryAfter.After(until) {
		until = rl.RetryAfter
	}
	return until
}

// reservedLabels are the labels every self-hosted runner has (KEDA's).
var reservedLabels = []string{"self-hosted", "linux", "x64"}

// MatchLabels is KEDA's rule: a job can run on the runners when each of
// its labels is one of theirs (case-insensitively), the default labels
// self-hosted, linux and x64 included unless noDefaultLabels; with
// matchUnlabeled, a job without labels matches runners without labels
// only.
func MatchLabels(jobLabels, runnerLabels []string, noDefaultLabels, matchUnlabeled bool) bool {
	if matchUnlabeled && len(jobLabels) == 0 {
		return len(runnerLabels) == 0
	}
	has := func(l string) bool {
		for _, r := range runnerLabels {
			if strings.EqualFold(r, l) {
				return true
			}
		}
		if !noDefaultLabels {
			for _, r := range reservedLabels {
				if strings.EqualFold(r, l) {
					return true
				}
			}
		}
		return false
	}
	for _, l := range jobLabels {
		if !has(l) {
			return false
		}
	}
	return true
}

// Active reports whether a run or a job is waiting for or using a runner
// (queued or in_progress), the states KEDA counts.
func Active(status string) bool { return status == "queued" || status == "in_progress" }

// Count is KEDA's queue length: the jobs queued or in progress whose
// labels the runners match.
func Count(jobs []Job, m *Metadata) int64 {
	var n int64
	for _, j := range jobs {
		if Active(j.Status) && MatchLabels(j.Labels, m.Labels, m.NoDefaultLabels, m.MatchUnlabeled) {
			n++
		}
	}
	return n
}

// apiMessage is the "message" of an API error answer, quoted and cut, for
// errors (" (message ...)"), or "".
func apiMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	return " (message " + scalers.Quote(e.Message) + ")"
}

// transportError is the cause of a failed exchange, without the URL
// net/http puts around it.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
