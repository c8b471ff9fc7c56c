package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// TokenBody asks for a new token of the caller's tenant.
type TokenBody struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Scopes []string `json:"scopes,omitempty"`
	// ExpiresAt (RFC 3339); absent: never.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Token is a token as listed: never its secret nor its hash.
type Token struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	Scopes      []string   `json:"scopes,omitempty"`
	SystemAdmin bool       `json:"systemAdmin,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt  *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
}

// NewToken is the answer to a created token: the token itself, shown
// this once.
type NewToken struct {
	Token
	Secret string `json:"token"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func tokenOut(t store.Token) Token {
	return Token{ID: t.ID, Name: t.Name, Role: string(t.Role), Scopes: t.Scopes, SystemAdmin: t.SystemAdmin,
		CreatedAt: t.CreatedAt, ExpiresAt: optTime(t.ExpiresAt), LastUsedAt: optTime(t.LastUsedAt), RevokedAt: optTime(t.RevokedAt)}
}

func validateToken(b *TokenBody, now time.Time) error {
	if b.Name == "" {
		return invalid("name", "required")
	}
	switch store.Role(b.Role) {
	case store.RoleViewer, store.RoleOperator, store.RoleAdmin:
	default:
		return invalid("role", "%q: want viewer, operator or admin", clip(b.Role))
	}
	for i, s := range b.Scopes {
		ok := s == "*" || auth.Known(auth.Action(s)) && auth.Action(s) != auth.Public || knownResource(s)
		if !ok {
			return invalid("scopes["+strconv.Itoa(i)+"]", "%q: want an action (scalers.read), a resource (scalers) or *", clip(s))
		}
	}
	if b.ExpiresAt != nil && !b.ExpiresAt.After(now) {
		return invalid("expiresAt", "in the past")
	}
	return nil
}

func knownResource(r string) bool {
	return auth.Known(auth.Action(r+".read")) || auth.Known(auth.Action(r+".write"))
}

func listTokens(s *server, r *request) (int, any, error) {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Tokens(r.Context(), r.tenant, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, tokenOut), nil
}

func createToken(s *server, r *request) (int, any, error) {
	b, err := decode[TokenBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if err := validateToken(&b, s.o.Now()); err != nil {
		return 0, nil, err
	}
	g, err := auth.Generate(r.tenant)
	if err != nil {
		return 0, nil, err
	}
	t := store.Token{ID: g.ID, Name: b.Name, Role: store.Role(b.Role), Scopes: b.Scopes, SecretHash: g.SecretHash}
	if b.ExpiresAt != nil {
		t.ExpiresAt = *b.ExpiresAt
	}
	// A token made here is never a system admin: that is not a tenant's
	// to grant.
	var out store.Token
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		var err error
		out, err = tx.CreateToken(t)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, NewToken{Token: tokenOut(out), Secret: g.Token}, nil
}

func revokeToken(s *server, r *request) (int, any, error) {
	var out store.Token
	err := s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		var err error
		out, err = tx.RevokeToken(r.PathValue("token"))
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	// The revocation holds for this server's next request at once.
	s.authn.Forget(r.tenant, out.ID)
	return http.StatusOK, tokenOut(out), nil
}
