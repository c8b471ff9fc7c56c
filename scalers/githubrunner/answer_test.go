package githubrunner

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestNextPage(t *testing.T) {
	for _, tt := range []struct{ link, want string }{
		{`<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last"`, "https://api.github.com/repositories/1/issues?page=2"},
		{`<https://x/?page=1>; rel="prev", <https://x/?page=1>; rel="first"`, ""},
		{`<https://x/?page=3>; rel="next last"`, "https://x/?page=3"},
		{``, ""},
		{`garbage; rel="next"`, ""},
		{`<a>;rel=next`, "a"},
	} {
		if got := NextPage(tt.link); got != tt.want {
			t.Errorf("NextPage(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}

func TestParseRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	h := http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1700000600"}}
	rl, err := ParseRateLimit(h, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (RateLimit{Known: true, Reset: time.Unix(1_700_000_600, 0)}); rl != want {
		t.Errorf("got %+v", rl)
	}
	if got := rl.Until(now); !got.Equal(time.Unix(1_700_000_600, 0)) {
		t.Errorf("Until %v", got)
	}
	if got := rl.Until(now.Add(time.Hour)); !got.IsZero() {
		t.Errorf("Until after the reset %v", got)
	}
	rl, err = ParseRateLimit(http.Header{"X-Ratelimit-Remaining": {"12"}, "Retry-After": {"30"}}, now)
	if err != nil || !rl.Until(now).Equal(now.Add(30*time.Second)) {
		t.Errorf("Retry-After: %+v %v", rl, err)
	}
	rl, err = ParseRateLimit(http.Header{"Retry-After": {now.Add(time.Minute).UTC().Format(http.TimeFormat)}}, now)
	if err != nil || !rl.Until(now).Equal(now.Add(time.Minute)) {
		t.Errorf("Retry-After date: %+v %v", rl, err)
	}
	for _, h := range []http.Header{{"X-Ratelimit-Remaining": {"x"}}, {"X-Ratelimit-Reset": {"-1"}}, {"Retry-After": {"soon"}}} {
		if _, err := ParseRateLimit(h, now); err == nil {
			t.Errorf("%v: no error", h)
		}
	}
}

func TestParseAnswers(t *testing.T) {
	runs, err := ParseRuns([]byte(`{"total_count":2,"workflow_runs":[{"id":1,"status":"queued","repository":{"name":"r"}},{"id":2,"status":"completed"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Run{{ID: 1, Status: "queued", Repository: Repo{Name: "r"}}, {ID: 2, Status: "completed"}}, runs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	jobs, err := ParseJobs([]byte(`{"total_count":1,"jobs":[{"id":3,"status":"in_progress","labels":["a"]}]}`))
	if err != nil || len(jobs) != 1 || jobs[0].Labels[0] != "a" {
		t.Errorf("jobs %+v %v", jobs, err)
	}
	for _, tt := range []struct {
		name string
		f    func([]byte) error
		in   string
		msg  string
	}{
		{"runs not JSON", func(b []byte) error { _, err := ParseRuns(b); return err }, "<html>", "not the JSON expected"},
		{"runs missing", func(b []byte) error { _, err := ParseRuns(b); return err }, `{"message":"x"}`, "no workflow_runs"},
		{"jobs missing", func(b []byte) error { _, err := ParseJobs(b); return err }, `{}`, "no jobs in the answer"},
		{"repos an object", func(b []byte) error { _, err := ParseRepos(b); return err }, `{"name":"r"}`, "not the JSON expected"},
		{"trailing data", func(b []byte) error { _, err := ParseRepos(b); return err }, `[] []`, "data after the JSON value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scalertest.CheckErr(t, tt.f([]byte(tt.in)), scalers.ErrNoData, tt.msg)
		})
	}
}

// TestMatchLabels: KEDA's canRunnerMatchLabels, case by case.
func TestMatchLabels(t *testing.T) {
	for _, tt := range []struct {
		job, runner               []string
		noDefault, matchUnlabeled bool
		want                      bool
	}{
		{[]string{"self-hosted", "foo"}, []string{"foo"}, false, false, true},
		{[]string{"self-hosted", "foo"}, []string{"foo"}, true, false, false},
		{[]string{"LINUX", "X64"}, nil, false, false, true},
		{nil, []string{"foo"}, false, false, true},
		{nil, []string{"foo"}, false, true, false},
		{nil, nil, false, true, true},
		{[]string{"gpu"}, []string{"foo"}, false, false, false},
	} {
		if got := MatchLabels(tt.job, tt.runner, tt.noDefault, tt.matchUnlabeled); got != tt.want {
			t.Errorf("MatchLabels(%v, %v, %v, %v) = %v", tt.job, tt.runner, tt.noDefault, tt.matchUnlabeled, got)
		}
	}
}
