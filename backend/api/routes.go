package api

import (
	"net/http"
	"strings"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
)

// route is one route: its ServeMux pattern, the action it needs, its
// handler and what the OpenAPI document says of it. TestRoutesDeclareActions
// walks the table.
type route struct {
	pattern string
	action  auth.Action
	handle  handler
	doc     doc
	// mirrored: the route is a tenant route's mirror under
	// /api/v1/tenants/{tenant}/, acting in the path's tenant.
	mirrored bool
}

// doc is a route's part of the OpenAPI document.
type doc struct {
	summary string
	// query names the query parameters (keys of queryParams).
	query []string
	// in is the request body's type (a zero value), nil for none.
	in any
	// out is the answer's type (a zero value), nil for none (204).
	out any
	// status is the status of success (200 when 0).
	status int
}

// The query parameters of lists and of the analytics.
var (
	paged     = []string{"limit", "pageToken"}
	analytics = []string{"from", "to", "namespace", "cluster", "scaler", "limit", "pageToken"}
)

// routes is the one table of the API's routes. Every route whose action
// is a tenant's (not Public, system.read or system.write) is also served
// under /api/v1/tenants/{tenant}/ (allRoutes), for system admins.
func routes() []route {
	return []route{
		{"GET /api/v1/scalers", auth.ScalersRead, listScalers, doc{summary: "List the scalers", query: paged, out: List[Scaler]{}}, false},
		{"POST /api/v1/scalers", auth.ScalersWrite, createScaler, doc{summary: "Create a scaler", in: ScalerBody{}, out: Scaler{}, status: http.StatusCreated}, false},
		{"GET /api/v1/scalers/{name}", auth.ScalersRead, getScaler, doc{summary: "Get a scaler", out: Scaler{}}, false},
		{"PUT /api/v1/scalers/{name}", auth.ScalersWrite, putScaler, doc{summary: "Replace a scaler's namespace, cluster and spec", in: ScalerBody{}, out: Scaler{}}, false},
		{"DELETE /api/v1/scalers/{name}", auth.ScalersWrite, deleteScaler, doc{summary: "Delete a scaler", query: []string{"resourceVersion"}, status: http.StatusNoContent}, false},
		{"GET /api/v1/scalers/{name}/status", auth.ScalersRead, getStatus, doc{summary: "Get a scaler's status", out: v1.ScalerStatus{}}, false},
		{"PUT /api/v1/scalers/{name}/status", auth.ScalersWrite, putStatusRecorded, doc{summary: "Report a scaler's status (agents; its trigger values go into the metric history)", query: []string{"resourceVersion"}, in: v1.ScalerStatus{}, out: v1.ScalerStatus{}}, false},
		{"GET /api/v1/scalers/{name}/metrics", auth.ScalersRead, getMetrics, doc{summary: "Each trigger's last reported value and target", out: Metrics{}}, false},
		{"GET /api/v1/scalers/{name}/recommendations", auth.ScalersRead, getScalerRecommendations, doc{summary: "The last decision, the last scaling event and the forecast floor", out: ScalerRecommendations{}}, false},
		{"POST /api/v1/scalers/{name}/events", auth.EventsWrite, postEvent, doc{summary: "Record a scaling event (idempotent by id)", in: EventBody{}, out: EventAck{}, status: http.StatusCreated}, false},
		{"GET /api/v1/scalers/{name}/events", auth.EventsRead, listEvents, doc{summary: "List a scaler's scaling events", query: paged, out: List[Event]{}}, false},

		{"GET /api/v1/clusters", auth.ClustersRead, listClusters, doc{summary: "List the clusters", query: paged, out: List[Cluster]{}}, false},
		{"POST /api/v1/clusters", auth.ClustersWrite, createCluster, doc{summary: "Register a cluster", in: ClusterBody{}, out: Cluster{}, status: http.StatusCreated}, false},
		{"GET /api/v1/clusters/{id}", auth.ClustersRead, getCluster, doc{summary: "Get a cluster", out: Cluster{}}, false},
		{"PUT /api/v1/clusters/{id}", auth.ClustersWrite, putCluster, doc{summary: "Update a cluster", in: ClusterBody{}, out: Cluster{}}, false},
		{"DELETE /api/v1/clusters/{id}", auth.ClustersWrite, deleteCluster, doc{summary: "Unregister a cluster", query: []string{"resourceVersion"}, status: http.StatusNoContent}, false},

		{"GET /api/v1/analytics/cost", auth.ScalersRead, getCost, doc{summary: "Cost per key of an aggregate and per step, OpenCost's allocation figures (from the stored cost samples)", query: costQuery, out: Cost{}}, false},
		{"GET /api/v1/analytics/efficiency", auth.ScalersRead, getEfficiency, doc{summary: "Per scaler: the stored status, cost, requested vs used CPU and memory, actual vs reactive-only replica-hours", query: analytics, out: Efficiency{}}, false},
		{"GET /api/v1/analytics/predictions", auth.ScalersRead, getScalerPredictions, doc{summary: "Each scaler's forecast floor and its triggers' forecasts (configured false without a predictor)", query: analytics, out: ScalerPredictions{}}, false},
		{"GET /api/v1/analytics/trends", auth.EventsRead, getTrends, doc{summary: "Scaling events per scaler in a window (or per bucket of it)", query: append([]string{"interval"}, analytics...), out: Trends{}}, false},

		{"GET /api/v1/budgets", auth.ScalersRead, listBudgets, doc{summary: "List the monthly budgets", query: paged, out: List[Budget]{}}, false},
		{"POST /api/v1/budgets", auth.BudgetsWrite, createBudget, doc{summary: "Create a monthly budget (tenant, namespace or workload)", in: BudgetBody{}, out: Budget{}, status: http.StatusCreated}, false},
		{"GET /api/v1/budgets/{budget}", auth.ScalersRead, getBudget, doc{summary: "Get a budget", out: Budget{}}, false},
		{"PUT /api/v1/budgets/{budget}", auth.BudgetsWrite, putBudget, doc{summary: "Replace a budget", in: BudgetBody{}, out: Budget{}}, false},
		{"DELETE /api/v1/budgets/{budget}", auth.BudgetsWrite, deleteBudget, doc{summary: "Delete a budget", query: []string{"resourceVersion"}, status: http.StatusNoContent}, false},

		{"GET /api/v1/tokens", auth.TokensRead, listTokens, doc{summary: "List the tenant's tokens (never their secrets)", query: paged, out: List[Token]{}}, false},
		{"POST /api/v1/tokens", auth.TokensWrite, createToken, doc{summary: "Create a token (shown this once)", in: TokenBody{}, out: NewToken{}, status: http.StatusCreated}, false},
		{"DELETE /api/v1/tokens/{token}", auth.TokensWrite, revokeToken, doc{summary: "Revoke a token", out: Token{}}, false},

		{"GET /api/v1/audit", auth.AuditRead, listAudit, doc{summary: "List audit records", query: []string{"after", "limit"}, out: AuditList{}}, false},
		{"GET /api/v1/audit/checkpoint", auth.AuditRead, getCheckpoint, doc{summary: "The latest signed checkpoint", out: CheckpointOut{}}, false},
		{"GET /api/v1/audit/{seq}/proof", auth.AuditRead, getProof, doc{summary: "A record's inclusion proof in the latest checkpoint", out: Proof{}}, false},

		// The installation's routes: system admins only.
		{"GET /api/v1/tenants", auth.SystemRead, listTenants, doc{summary: "List the tenants", query: paged, out: List[Tenant]{}}, false},
		{"POST /api/v1/tenants", auth.SystemWrite, createTenant, doc{summary: "Create a tenant", in: TenantBody{}, out: Tenant{}, status: http.StatusCreated}, false},
		{"GET /api/v1/tenants/{tenant}", auth.SystemRead, getTenant, doc{summary: "Get a tenant", out: Tenant{}}, false},
		{"GET /api/v1/config", auth.SystemRead, getConfig, doc{summary: "The configuration in effect, secrets redacted", out: map[string]any{}}, false},
		{"POST /api/v1/config/reload", auth.SystemWrite, reloadConfig, doc{summary: "Re-read the configuration", out: ReloadResult{}}, false},

		{"GET /api/v1/health", auth.Public, health, doc{summary: "Health: the database answers", out: map[string]string{}}, false},
		{"GET /api/v1/version", auth.Public, version, doc{summary: "The server's version", out: map[string]string{}}, false},
		{"GET /api/v1/openapi.json", auth.Public, openAPI, doc{summary: "This document (OpenAPI 3.1)", out: map[string]any{}}, false},
	}
}

// tenantScoped reports whether a route acts on a tenant's rows (and so
// is mirrored under /api/v1/tenants/{tenant}/).
func tenantScoped(rt route) bool {
	switch rt.action {
	case auth.Public, auth.SystemRead, auth.SystemWrite:
		return false
	}
	return true
}

// mirrorPrefix is where a tenant route's mirror lives.
const mirrorPrefix = "/api/v1/tenants/{tenant}/"

// allRoutes is the table and, generated from it, the mirror of each
// tenant route under /api/v1/tenants/{tenant}/.
func allRoutes() []route {
	base := routes()
	out := make([]route, 0, 2*len(base))
	out = append(out, base...)
	for _, rt := range base {
		if !tenantScoped(rt) {
			continue
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		rt.pattern = method + " " + mirrorPrefix + strings.TrimPrefix(path, "/api/v1/")
		rt.mirrored = true
		out = append(out, rt)
	}
	return out
}
