package githubrunner

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestParseMetadataKEDA is every case of KEDA's testGitHubRunnerMetadata
// with KEDA's verdict. KEDA's parser is given personalAccessToken in
// authParams each time, so each case has it here. KEDA's <key>FromEnv
// names an environment variable it resolves; an external scaler gets the
// resolved value under <key>FromEnv, so the env cases give the values
// KEDA's environment holds (or, where KEDA's variable is missing, none).
func TestParseMetadataKEDA(t *testing.T) {
	api := "https://api.github.com"
	base := func(kv ...string) map[string]string {
		m := map[string]string{"personalAccessToken": "sample"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	good := []string{"githubApiURL", api, "runnerScope", "org", "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"}
	tests := []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"empty", base(), []string{"owner: required", "runnerScope: required"}},
		{"properly formed", base(good...), nil},
		{"properly formed, no labels or repos", base("githubApiURL", api, "runnerScope", "repo", "owner", "ownername", "targetWorkflowQueueLength", "1"), nil},
		{"string for int64", base("githubApiURL", api, "runnerScope", "repo", "owner", "ownername", "targetWorkflowQueueLength", "a"), []string{`targetWorkflowQueueLength "a"`}},
		{"formed from env", base("githubApiURLFromEnv", api, "runnerScopeFromEnv", "org", "ownerFromEnv", "ownername", "reposFromEnv", "reponame,otherrepo", "targetWorkflowQueueLength", "1"), nil},
		{"missing runnerScope", base("githubApiURL", api, "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), []string{"runnerScope: required"}},
		{"empty runnerScope", base("githubApiURL", api, "runnerScope", "", "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), []string{"runnerScope: required"}},
		{"invalid runnerScope", base("githubApiURL", api, "runnerScope", "a", "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), []string{`runnerScope "a"`}},
		{"missing owner", base("githubApiURL", api, "runnerScope", "repo", "repos", "reponame", "targetWorkflowQueueLength", "1"), []string{"owner: required"}},
		{"empty owner", base("githubApiURL", api, "runnerScope", "repo", "owner", "", "repos", "reponame", "targetWorkflowQueueLength", "1"), []string{"owner: required"}},
		{"empty targetWorkflowQueueLength", base("githubApiURL", api, "runnerScope", "repo", "owner", "ownername", "repos", "reponame"), nil},
		{"missing installationID Env", base(append(good, "applicationIDFromEnv", "1")...), []string{"installationID: no installationID given"}},
		{"missing applicationID Env", base(append(good, "installationIDFromEnv", "2")...), []string{"applicationID: no applicationID given"}},
		{"empty githubApiURL", base("githubApiURL", "", "runnerScope", "org", "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), nil},
		{"properly formed, ent, no labels or repos", base("githubApiURL", api, "runnerScope", "ent", "owner", "ownername", "targetWorkflowQueueLength", "1"), nil},
		{"formed from env, no envs", base("githubApiURLFromEnv", api, "repos", "reponame", "targetWorkflowQueueLength", "1"), []string{"owner: required", "runnerScope: required"}},
		{"formed from default env, no envs", base("owner", "ownername", "repos", "reponame", "targetWorkflowQueueLength", "1"), []string{"runnerScope: required"}},
		{"missing labels", base("githubApiURL", api, "runnerScope", "org", "owner", "ownername", "repos", "reponame,otherrepo", "targetWorkflowQueueLength", "1"), nil},
		{"empty labels", base("githubApiURL", api, "runnerScope", "org", "owner", "ownername", "labels", "", "repos", "reponame,otherrepo", "targetWorkflowQueueLength", "1"), nil},
		{"missing repos", base("githubApiURL", api, "runnerScope", "org", "owner", "ownername", "labels", "golang", "targetWorkflowQueueLength", "1"), nil},
		{"empty repos", base("githubApiURL", api, "runnerScope", "org", "owner", "ownername", "labels", "golang", "repos", "", "targetWorkflowQueueLength", "1"), nil},
		{"missing installationID", base(append(good, "applicationID", "1")...), []string{"installationID: no installationID given"}},
		{"missing applicationID", base(append(good, "installationID", "1")...), []string{"applicationID: no applicationID given"}},
		{"missing applicationKey", base(append(good, "applicationID", "1", "installationID", "1")...), []string{"appKey: no appKey given"}},
		{"missing runnerScope Env", base("githubApiURL", api, "owner", "ownername", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), []string{"runnerScope: required"}},
		{"missing owner Env", base("githubApiURL", api, "runnerScope", "org", "repos", "reponame,otherrepo", "labels", "golang", "targetWorkflowQueueLength", "1"), []string{"owner: required"}},
		{"wrong applicationID", base(append(good, "applicationID", "id", "installationID", "1")...), []string{`applicationID "id"`}},
		{"wrong installationID", base(append(good, "applicationID", "1", "installationID", "id")...), []string{`installationID "id"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
			if strings.Contains(err.Error(), "sample") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

// TestBearerAuthModeKEDA: KEDA's
// TestGitHubRunnerBearerAuthModeWithPersonalAccessToken: authModes bearer
// takes personalAccessToken as the bearer token.
func TestBearerAuthModeKEDA(t *testing.T) {
	m, err := ParseMetadata(map[string]string{"githubApiURL": "https://api.github.com", "runnerScope": "org", "owner": "ownername",
		"targetWorkflowQueueLength": "1", "authModes": "bearer", "personalAccessToken": "sample"})
	if err != nil {
		t.Fatal(err)
	}
	if key, tok := m.token(); key != "bearerToken" || tok.MustValue() != "sample" {
		t.Errorf("token %s %q", key, tok.MustValue())
	}
	if _, err := ParseMetadata(map[string]string{"runnerScope": "org", "owner": "o", "authModes": "bearer", "bearerToken": "b"}); err != nil {
		t.Errorf("bearerToken alone: %v", err)
	}
	_, err = ParseMetadata(map[string]string{"runnerScope": "org", "owner": "o", "authModes": "basic", "personalAccessToken": "t"})
	scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, `authModes "basic": the github-runner type supports bearer only`)
	_, err = ParseMetadata(map[string]string{"runnerScope": "org", "owner": "o"})
	scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, "no personalAccessToken/bearerToken or appKey given")
}

// TestMetricNameKEDA: KEDA's TestGithubRunnerGetMetricSpecForScaling
// ("s0-github-runner-ownername"; KEDA adds the "sN-"), its default target
// of 1, and KEDA's normalization.
func TestMetricNameKEDA(t *testing.T) {
	md := map[string]string{"githubApiURL": "https://api.github.com", "runnerScope": "org", "owner": "ownername",
		"repos": "reponame,otherrepo", "labels": "golang", "personalAccessToken": "sample"}
	s, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if diff := cmp.Diff([]scalers.MetricSpec{{Name: "github-runner-ownername", Target: 1}}, s.MetricSpecs()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := MetricName("my.org(x)"); got != "github-runner-my-org-x-" {
		t.Errorf("MetricName = %q", got)
	}
}

// TestParseMetadata: defaults and our own checks.
func TestParseMetadata(t *testing.T) {
	m, err := ParseMetadata(map[string]string{"owner": "o", "runnerScope": "org", "personalAccessToken": "t", "githubApiURL": "https://ghe.example/api/v3/"})
	if err != nil {
		t.Fatal(err)
	}
	if m.APIURL != "https://ghe.example/api/v3" || m.Target != 1 || m.EnableEtags || m.NoDefaultLabels || m.MatchUnlabeled || m.Activation != nil {
		t.Errorf("defaults: %+v", m)
	}
	md := func(kv ...string) map[string]string {
		return scalertest.WithKeys(map[string]string{"owner": "o", "runnerScope": "org", "personalAccessToken": "tok-secret"}, kv...)
	}
	_, key := appKeyPEM(t)
	for _, tt := range []struct {
		name string
		md   map[string]string
		bad  []string
	}{
		{"target 0", md("targetWorkflowQueueLength", "0"), []string{`targetWorkflowQueueLength "0"`}},
		{"negative activation", md("activationTargetWorkflowQueueLength", "-1"), []string{`activationTargetWorkflowQueueLength "-1"`}},
		{"not a URL", md("githubApiURL", "api.github.com"), []string{"githubApiURL"}},
		{"app key not PEM", md("applicationID", "1", "installationID", "2", "appKey", "not-a-key-secret"), []string{"appKey (secret, not shown): no PEM key found"}},
		{"a control character in a label", md("labels", "a,b\x00"), []string{"labels"}},
		{"a negative application id", md("applicationID", "-1", "installationID", "2", "appKey", key), []string{`applicationID "-1"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata(tt.md)
			scalertest.CheckErr(t, err, scalers.ErrInvalidConfig, tt.bad...)
			if strings.Contains(err.Error(), "tok-secret") || strings.Contains(err.Error(), "not-a-key") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	if _, err := ParseMetadata(md("personalAccessToken", "", "applicationID", "1", "installationID", "2", "appKey", key)); err != nil {
		t.Errorf("an App without a token: %v", err)
	}
}
