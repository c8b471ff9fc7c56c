package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// TokenStore is what Authenticator reads and touches (store.Store has
// both). Safe for concurrent use.
type TokenStore interface {
	Token(ctx context.Context, tenant store.TenantID, id string) (store.Token, error)
	TouchToken(ctx context.Context, tenant store.TenantID, id string, at time.Time) error
}

// Authenticator turns a bearer token into a Principal.
type Authenticator struct {
	Store TokenStore
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger gets failures of TouchToken (nil: discarded).
	Logger *slog.Logger
	// TouchInterval: the last use is recorded when the stored one is
	// older than this (default DefaultTouchInterval), so that a busy
	// token does not make a write per request.
	TouchInterval time.Duration
}

// DefaultTouchInterval is the resolution of a token's last use.
const DefaultTouchInterval = time.Minute

// Authenticate checks token: its shape and checksum (no lookup when
// wrong), then its row, secret hash (constant time), revocation and
// expiry; it records the use. Every failure wraps ErrMalformed or
// ErrUnauthenticated (or the store's ErrUnavailable); none names the
// secret.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	p, err := Parse(token)
	if err != nil {
		return Principal{}, err
	}
	t, err := a.Store.Token(ctx, p.Tenant, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("%s: %w", p, ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("%s: %w", p, err)
	}
	if !p.Matches(t.SecretHash) {
		return Principal{}, fmt.Errorf("%s: wrong secret: %w", p, ErrUnauthenticated)
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	if !t.RevokedAt.IsZero() {
		return Principal{}, fmt.Errorf("%s: revoked: %w", p, ErrUnauthenticated)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, fmt.Errorf("%s: expired: %w", p, ErrUnauthenticated)
	}
	every := a.TouchInterval
	if every <= 0 {
		every = DefaultTouchInterval
	}
	if now.Sub(t.LastUsedAt) >= every {
		if err := a.Store.TouchToken(ctx, p.Tenant, p.ID, now); err != nil && a.Logger != nil {
			// Bookkeeping only: a failed touch does not refuse the request.
			a.Logger.Warn("touch token", "tenant", p.Tenant, "token", p.ID, "err", err)
		}
	}
	return Principal{Tenant: t.Tenant, TokenID: t.ID, Role: t.Role, Scopes: t.Scopes, SystemAdmin: t.SystemAdmin}, nil
}
