package api

import "github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"

// route is one route: its ServeMux pattern, the action it needs and its
// handler. TestRoutesDeclareActions walks the table.
type route struct {
	pattern string
	action  auth.Action
	handle  handler
}

// routes is the one table of the API's routes.
func routes() []route {
	return []route{
		{"GET /api/v1/scalers", auth.ScalersRead, listScalers},
		{"POST /api/v1/scalers", auth.ScalersWrite, createScaler},
		{"GET /api/v1/scalers/{name}", auth.ScalersRead, getScaler},
		{"PUT /api/v1/scalers/{name}", auth.ScalersWrite, putScaler},
		{"DELETE /api/v1/scalers/{name}", auth.ScalersWrite, deleteScaler},
		{"GET /api/v1/scalers/{name}/status", auth.ScalersRead, getStatus},
		{"PUT /api/v1/scalers/{name}/status", auth.ScalersWrite, putStatus},
		{"POST /api/v1/scalers/{name}/events", auth.EventsWrite, postEvent},
		{"GET /api/v1/scalers/{name}/events", auth.EventsRead, listEvents},

		{"GET /api/v1/clusters", auth.ClustersRead, listClusters},
		{"POST /api/v1/clusters", auth.ClustersWrite, createCluster},
		{"GET /api/v1/clusters/{id}", auth.ClustersRead, getCluster},
		{"PUT /api/v1/clusters/{id}", auth.ClustersWrite, putCluster},
		{"DELETE /api/v1/clusters/{id}", auth.ClustersWrite, deleteCluster},

		{"GET /api/v1/tokens", auth.TokensRead, listTokens},
		{"POST /api/v1/tokens", auth.TokensWrite, createToken},
		{"DELETE /api/v1/tokens/{token}", auth.TokensWrite, revokeToken},

		{"GET /api/v1/audit", auth.AuditRead, listAudit},
		{"GET /api/v1/audit/checkpoint", auth.AuditRead, getCheckpoint},
		{"GET /api/v1/audit/{seq}/proof", auth.AuditRead, getProof},

		// The configuration is the installation's, not a tenant's: system
		// admins only.
		{"GET /api/v1/config", auth.SystemRead, getConfig},
		{"POST /api/v1/config/reload", auth.SystemWrite, reloadConfig},

		{"GET /api/v1/health", auth.Public, health},
		{"GET /api/v1/version", auth.Public, version},
	}
}
