// Package githubrunner is the "github-runner" scaler: the GitHub Actions
// jobs, queued or in progress, that runners with the trigger's labels can
// take, counted as KEDA's github-runner scaler counts them, with KEDA's
// metadata (owner, runnerScope, repos, labels, noDefaultLabels,
// matchUnlabeledJobsWithUnlabeledRunners, targetWorkflowQueueLength,
// githubApiURL, enableEtags, personalAccessToken or a GitHub App's
// applicationID, installationID and appKey) and KEDA's metric name,
// "github-runner-<owner>".
//
// Reading answers is pure (answer.go): ParseRepos, ParseRuns and
// ParseJobs decode the REST API's JSON (only the fields the count needs),
// NextPage reads a Link header, ParseRateLimit the rate-limit headers,
// and MatchLabels and Count are KEDA's label rule and count.
//
// Fetching (scaler.go), as KEDA: the repositories (repos, else the
// owner's, page by page), each repository's runs queued and in progress,
// each such run's jobs. With enableEtags every answer is kept with its
// ETag and asked again with If-None-Match; a 304 reuses the kept answer
// (KEDA's caching of the repository list, the runs and the jobs), and a
// 304 without a kept answer is asked again without the ETag. After a
// rate-limited answer (X-RateLimit-Remaining 0 before X-RateLimit-Reset,
// or a Retry-After, or a 403/429 secondary limit) no request is sent until
// the limit lifts, and the last count is answered instead (an error when
// there is none), as KEDA does. The whole call is bounded by the trigger's
// timeout.
//
// Authentication (app.go): a personal access token is sent as a bearer
// token; a GitHub App signs a JWT (RS256) with appKey and exchanges it for
// an installation token at /app/installations/<id>/access_tokens, kept
// until a minute before it expires. No token or key appears in errors or
// logs.
package githubrunner
