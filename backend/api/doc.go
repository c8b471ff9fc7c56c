// Package api is the backend's REST API: one http.Handler (New) over a
// store.Store.
//
// Every route is declared once in the route table (routes.go) with the
// auth.Action it needs; the handler authenticates the bearer token,
// rate-limits per token and calls auth.Authorize before the route runs.
// The tenant of a request is the token's, never a header's or a body's:
// the store is asked for that tenant's rows only, so another tenant's
// object answers 404 like one that does not exist.
//
// Errors are JSON, {"error": {"code", "message", "field"}}, with the
// status codes of docs/backend-api.md.
package api
