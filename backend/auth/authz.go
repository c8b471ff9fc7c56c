package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Action is what a request does: "<resource>.<verb>".
type Action string

// The actions of the API.
const (
	ScalersRead   Action = "scalers.read"
	ScalersWrite  Action = "scalers.write"
	EventsRead    Action = "events.read"
	EventsWrite   Action = "events.write"
	ClustersRead  Action = "clusters.read"
	ClustersWrite Action = "clusters.write"
	AuditRead     Action = "audit.read"
	TokensRead    Action = "tokens.read"
	TokensWrite   Action = "tokens.write"
	BudgetsWrite  Action = "budgets.write"
	ConfigWrite   Action = "config.write"
	// AgentConnect is an agent's AgentService stream (backend/agentsvc):
	// a token with a cluster binding (AgentScope) does only this, and
	// only for its cluster.
	AgentConnect Action = "agent.connect"
	// SystemRead and SystemWrite span tenants: system admins only (the
	// global audit log, the tenants).
	SystemRead  Action = "system.read"
	SystemWrite Action = "system.write"
	// Public needs no credential (health, version).
	Public Action = "public"
)

// Actions lists every action but Public.
var actions = []Action{ScalersRead, ScalersWrite, EventsRead, EventsWrite, ClustersRead, ClustersWrite,
	AuditRead, TokensRead, TokensWrite, BudgetsWrite, ConfigWrite, AgentConnect, SystemRead, SystemWrite}

// Known reports whether a is an action of the API (Public included).
func Known(a Action) bool { return a == Public || slices.Contains(actions, a) }

// roleActions: viewer reads; operator also writes scalers and events;
// admin also manages tokens, clusters, budgets and config.
var roleActions = map[store.Role][]Action{
	store.RoleViewer:   {ScalersRead, EventsRead, ClustersRead, AuditRead},
	store.RoleOperator: {ScalersRead, EventsRead, ClustersRead, AuditRead, ScalersWrite, EventsWrite, AgentConnect},
	store.RoleAdmin: {ScalersRead, EventsRead, ClustersRead, AuditRead, ScalersWrite, EventsWrite,
		TokensRead, TokensWrite, ClustersWrite, BudgetsWrite, ConfigWrite, AgentConnect},
}

// Principal is who a request is on behalf of: from the credential only.
type Principal struct {
	Tenant  store.TenantID
	TokenID string
	Role    store.Role
	// Scopes narrow the role: empty means all the role allows; else an
	// action needs a scope equal to it or to its resource ("scalers"
	// allows scalers.read and scalers.write).
	Scopes      []string
	SystemAdmin bool
}

// Actor is the principal as the audit log names it (never a secret).
func (p Principal) Actor() string { return "token:" + p.TokenID }

// ActorIn is the principal as the audit log of tenant names it: Actor in
// its own tenant; "token:<its tenant>/<id>" in another (a system admin's
// change of another tenant, or of the installation), since a token id
// is unique in its tenant only.
func (p Principal) ActorIn(tenant store.TenantID) string {
	if tenant == p.Tenant {
		return p.Actor()
	}
	return "token:" + string(p.Tenant) + "/" + p.TokenID
}

// Resource is what an action is done to: a row of Tenant ("" for the
// installation's), Kind/Name for messages.
type Resource struct {
	Tenant store.TenantID
	Kind   string
	Name   string
}

// Authorize is the one permission check. A resource of another tenant is
// ErrNotFound for everyone but a system admin; an action the role or the
// scopes do not allow is ErrForbidden.
func Authorize(p Principal, a Action, r Resource) error {
	if a == Public {
		return nil
	}
	if p.TokenID == "" {
		return ErrUnauthenticated
	}
	if r.Tenant != p.Tenant && !p.SystemAdmin {
		// Why not 403: telling "forbidden" would tell that it exists.
		return fmt.Errorf("%s %q: %w", r.Kind, r.Name, ErrNotFound)
	}
	if !scoped(p.Scopes, a) {
		return fmt.Errorf("%s: not in the token's scopes: %w", a, ErrForbidden)
	}
	if p.SystemAdmin {
		return nil
	}
	if !slices.Contains(roleActions[p.Role], a) {
		return fmt.Errorf("%s: role %s may not: %w", a, p.Role, ErrForbidden)
	}
	return nil
}

func scoped(scopes []string, a Action) bool {
	if len(scopes) == 0 {
		return true
	}
	res, _, _ := strings.Cut(string(a), ".")
	for _, s := range scopes {
		if s == string(a) || s == res || s == "*" {
			return true
		}
		// A cluster binding is the scope "agent" for one cluster (the
		// cluster is checked by BoundCluster's caller).
		if strings.HasPrefix(s, AgentScopePrefix) && a == AgentConnect {
			return true
		}
	}
	return false
}

// AgentScopePrefix starts the scope that binds a token to one cluster:
// "agent:cluster=<id>" (AgentScope). Such a token is an agent token: it
// may connect the AgentService stream (AgentConnect) of that cluster of
// its tenant, and nothing else its scopes do not also allow.
const AgentScopePrefix = "agent:cluster="

// AgentScope is the scope binding a token to cluster.
func AgentScope(cluster string) string { return AgentScopePrefix + cluster }

// BoundCluster is the cluster a token is bound to, if any (its first
// AgentScope scope).
func BoundCluster(p Principal) (string, bool) {
	for _, s := range p.Scopes {
		if c, ok := strings.CutPrefix(s, AgentScopePrefix); ok && c != "" {
			return c, true
		}
	}
	return "", false
}
