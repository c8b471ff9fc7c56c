package githubrunner

import (
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "github-runner"

// KEDA's runnerScope values and default API URL.
const (
	ScopeOrg   = "org"
	ScopeEnt   = "ent"
	ScopeRepo  = "repo"
	DefaultURL = "https://api.github.com"
)

// Metadata is the typed trigger metadata, with KEDA's keys and defaults.
// A key KEDA reads "from the resolved environment" is also read as
// <key>FromEnv (KEDA puts the resolved value there for an external
// scaler).
type Metadata struct {
	// APIURL is the REST API's base URL (GitHub Enterprise Server:
	// https://host/api/v3).
	APIURL string `meta:"githubApiURL|githubApiURLFromEnv,default=https://api.github.com"`
	// Owner is the organization, enterprise or user.
	Owner string `meta:"owner|ownerFromEnv"`
	// Scope is where the runners are registered: org, ent or repo; it
	// chooses how the repositories are listed when repos is not given.
	Scope string `meta:"runnerScope|runnerScopeFromEnv,enum=org|ent|repo"`
	// Repos are the repositories whose jobs count; none: all of the
	// owner's.
	Repos []string `meta:"repos|reposFromEnv,optional"`
	// Labels are the runners' labels; a job counts when its labels are
	// all among them (and the default ones unless noDefaultLabels).
	Labels          []string `meta:"labels|labelsFromEnv,optional"`
	NoDefaultLabels bool     `meta:"noDefaultLabels|noDefaultLabelsFromEnv,default=false"`
	// MatchUnlabeled: a job without labels counts only for runners
	// without labels.
	MatchUnlabeled bool `meta:"matchUnlabeledJobsWithUnlabeledRunners|matchUnlabeledJobsWithUnlabeledRunnersFromEnv,default=false"`
	EnableEtags    bool `meta:"enableEtags|enableEtagsFromEnv,default=false"`
	// Target is the jobs per replica; the trigger is active from it on
	// (KEDA's rule), unless Activation is set.
	Target int64 `meta:"targetWorkflowQueueLength|targetWorkflowQueueLengthFromEnv,default=1,gt=0"`
	// Activation, if set (not a KEDA v2.21 key), makes the trigger active
	// while the count is above it instead.
	Activation *int64 `meta:"activationTargetWorkflowQueueLength,optional,min=0"`
	// Token is a personal access token (or bearerToken with authModes
	// bearer, KEDA's other spelling).
	Token       scalers.Secret `meta:"personalAccessToken,secret,optional"`
	AuthModes   string         `meta:"authModes|authMode,optional"`
	BearerToken scalers.Secret `meta:"bearerToken,secret,optional"`
	// ApplicationID, InstallationID and AppKey (a PEM RSA key) are a
	// GitHub App's; all three or none.
	ApplicationID  int64          `meta:"applicationID|applicationIDFromEnv,optional,min=0"`
	InstallationID int64          `meta:"installationID|installationIDFromEnv,optional,min=0"`
	AppKey         scalers.Secret `meta:"appKey,secret,optional"`
	// Timeout bounds one fetch, every request of it; a plain number is
	// milliseconds. 0 (absent): the server's default. Not a KEDA key.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
}

// Validate checks the URL, the credentials and the labels.
func (m *Metadata) Validate() error {
	var errs []error
	m.APIURL = strings.TrimRight(m.APIURL, "/")
	if err := scalers.ValidateHTTPURL("githubApiURL", m.APIURL); err != nil {
		errs = append(errs, err)
	}
	bearer := false
	for _, mode := range strings.Split(m.AuthModes, ",") {
		switch strings.TrimSpace(mode) {
		case "":
		case "bearer":
			bearer = true
		default:
			errs = append(errs, scalers.NewFieldError("authModes", m.AuthModes, "the github-runner type supports bearer only"))
		}
	}
	if bearer && !m.BearerToken.IsSet() {
		// KEDA's bridge: authModes bearer takes personalAccessToken.
		m.BearerToken = m.Token
	}
	app := m.ApplicationID != 0 || m.InstallationID != 0 || m.AppKey.IsSet()
	switch {
	case !m.AppKey.IsSet() && !m.Token.IsSet() && !(bearer && m.BearerToken.IsSet()):
		errs = append(errs, &scalers.FieldError{Key: "personalAccessToken", Missing: true,
			Msg: "no personalAccessToken/bearerToken or appKey given"})
	case app && m.ApplicationID == 0:
		errs = append(errs, &scalers.FieldError{Key: "applicationID", Missing: true, Msg: "no applicationID given (a GitHub App needs applicationID, installationID and appKey)"})
	case app && m.InstallationID == 0:
		errs = append(errs, &scalers.FieldError{Key: "installationID", Missing: true, Msg: "no installationID given (a GitHub App needs applicationID, installationID and appKey)"})
	case app && !m.AppKey.IsSet():
		errs = append(errs, &scalers.FieldError{Key: "appKey", Missing: true, Msg: "no appKey given (a GitHub App needs applicationID, installationID and appKey)"})
	}
	if m.AppKey.IsSet() && m.AppKey.Path() == "" {
		if _, err := parseKey(m.AppKey.MustValue()); err != nil {
			errs = append(errs, m.AppKey.FieldError("appKey", err.Error()))
		}
	}
	for _, list := range []struct {
		key   string
		items []string
	}{{"repos", m.Repos}, {"labels", m.Labels}} {
		for _, it := range list.items {
			if it == "" || strings.ContainsFunc(it, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				errs = append(errs, scalers.NewFieldError(list.key, it, "an empty item or a control character"))
			}
		}
	}
	return scalers.Invalid(errs...)
}

// useApp reports whether the GitHub App's installation token is used
// (KEDA: when all three keys are there, over a personal access token).
func (m *Metadata) useApp() bool {
	return m.ApplicationID != 0 && m.InstallationID != 0 && m.AppKey.IsSet()
}

// token is the secret sent as the bearer token without an App.
func (m *Metadata) token() (key string, s scalers.Secret) {
	if m.BearerToken.IsSet() {
		return "bearerToken", m.BearerToken
	}
	return "personalAccessToken", m.Token
}

// normalizer is KEDA's kedautil.NormalizeString.
var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds): "github-runner-" and the owner, with KEDA's normalization.
func MetricName(owner string) string { return normalizer.Replace("github-runner-" + owner) }

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig, name every bad key and show no secret.
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}
