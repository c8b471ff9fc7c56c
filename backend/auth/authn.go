package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// CacheTTL keeps a token's row this long after it was read (0: no
	// cache), so that a busy token costs no read per request; the secret,
	// revocation and expiry are still checked on every request against
	// the kept row. Forget drops a row at once (the API's revoke does);
	// a revocation made elsewhere (another replica, the CLI) holds
	// within CacheTTL.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[tokenKey]cachedToken
}

type tokenKey struct {
	tenant store.TenantID
	id     string
}

type cachedToken struct {
	t    store.Token
	read time.Time
}

// maxCachedTokens bounds the cache; past it the cache starts over.
const maxCachedTokens = 10000

// Forget drops the kept row of a token (after a change to it).
func (a *Authenticator) Forget(tenant store.TenantID, id string) {
	a.mu.Lock()
	delete(a.cache, tokenKey{tenant, id})
	a.mu.Unlock()
}

// token reads the row of (tenant, id), through the cache when CacheTTL
// is set. The cache's clock is the wall clock, not Now: an injected
// clock that stands still must not keep a row for ever.
func (a *Authenticator) token(ctx context.Context, tenant store.TenantID, id string) (store.Token, error) {
	if a.CacheTTL <= 0 {
		return a.Store.Token(ctx, tenant, id)
	}
	k := tokenKey{tenant, id}
	a.mu.Lock()
	c, ok := a.cache[k]
	a.mu.Unlock()
	if ok && time.Since(c.read) < a.CacheTTL {
		return c.t, nil
	}
	read := time.Now()
	t, err := a.Store.Token(ctx, tenant, id)
	if err != nil {
		return t, err
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) >= maxCachedTokens {
		a.cache = map[tokenKey]cachedToken{}
	}
	a.cache[k] = cachedToken{t: t, read: read}
	a.mu.Unlock()
	return t, nil
}

// touched records a use in the kept row, so that it is not touched again
// within TouchInterval.
func (a *Authenticator) touched(tenant store.TenantID, id string, at time.Time) {
	a.mu.Lock()
	k := tokenKey{tenant, id}
	if c, ok := a.cache[k]; ok {
		c.t.LastUsedAt = at
		a.cache[k] = c
	}
	a.mu.Unlock()
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
	t, err := a.token(ctx, p.Tenant, p.ID)
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
		if err := a.Store.TouchToken(ctx, p.Tenant, p.ID, now); err != nil {
			// Bookkeeping only: a failed touch does not refuse the request.
			if a.Logger != nil {
				a.Logger.Warn("touch token", "tenant", p.Tenant, "token", p.ID, "err", err)
			}
		} else {
			a.touched(p.Tenant, p.ID, now)
		}
	}
	return Principal{Tenant: t.Tenant, TokenID: t.ID, Role: t.Role, Scopes: t.Scopes, SystemAdmin: t.SystemAdmin}, nil
}
