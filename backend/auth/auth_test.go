package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func TestGenerateParse(t *testing.T) {
	g, err := auth.Generate("acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Token, "hpa_acme_"+g.ID+"_") {
		t.Fatalf("token %q: want hpa_acme_%s_...", g.Token, g.ID)
	}
	p, err := auth.Parse(g.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.ID != g.ID || !p.Matches(g.SecretHash) {
		t.Fatalf("parsed %v: want acme/%s matching", p, g.ID)
	}
	if s := p.String(); strings.Contains(s, g.Token[len("hpa_acme_"+g.ID+"_"):len(g.Token)-9]) {
		t.Fatalf("String %q shows the secret", s)
	}
}

func TestParseRefuses(t *testing.T) {
	g, err := auth.Generate("acme")
	if err != nil {
		t.Fatal(err)
	}
	secret := g.Token[len("hpa_acme_"+g.ID+"_") : len(g.Token)-9]
	typo := []byte(g.Token)
	i := len("hpa_acme_" + g.ID + "_")
	if typo[i] == 'a' {
		typo[i] = 'b'
	} else {
		typo[i] = 'a'
	}
	cases := []struct{ name, token string }{
		{"empty", ""},
		{"no prefix", strings.TrimPrefix(g.Token, "hpa_")},
		{"typo", string(typo)},
		{"parts", "hpa_acme_x_00000000"},
		{"long", "hpa_" + strings.Repeat("a", 300)},
		{"upper tenant", strings.Replace(g.Token, "acme", "ACME", 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := auth.Parse(c.token)
			if !errors.Is(err, auth.ErrMalformed) {
				t.Fatalf("Parse: %v, want ErrMalformed", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	g, _ := auth.Generate("acme")
	f.Add(g.Token)
	f.Add("hpa_a_b_c_d")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := auth.Parse(s)
		if err != nil {
			if !errors.Is(err, auth.ErrMalformed) {
				t.Fatalf("error %v not ErrMalformed", err)
			}
			if len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q contains its input", err)
			}
			return
		}
		if p.Tenant.Validate() != nil || p.ID == "" {
			t.Fatalf("accepted %q as %v", s, p)
		}
	})
}

func TestAuthorize(t *testing.T) {
	own := auth.Resource{Tenant: "acme", Kind: "scaler", Name: "web"}
	other := auth.Resource{Tenant: "globex", Kind: "scaler", Name: "web"}
	viewer := auth.Principal{Tenant: "acme", TokenID: "v", Role: store.RoleViewer}
	operator := auth.Principal{Tenant: "acme", TokenID: "o", Role: store.RoleOperator}
	admin := auth.Principal{Tenant: "acme", TokenID: "a", Role: store.RoleAdmin}
	sys := auth.Principal{Tenant: "root", TokenID: "s", Role: store.RoleAdmin, SystemAdmin: true}
	scoped := auth.Principal{Tenant: "acme", TokenID: "x", Role: store.RoleAdmin, Scopes: []string{"events"}}
	cases := []struct {
		name string
		p    auth.Principal
		a    auth.Action
		r    auth.Resource
		want error
	}{
		{"viewer reads", viewer, auth.ScalersRead, own, nil},
		{"viewer writes", viewer, auth.ScalersWrite, own, auth.ErrForbidden},
		{"operator writes scalers", operator, auth.ScalersWrite, own, nil},
		{"operator writes events", operator, auth.EventsWrite, own, nil},
		{"operator clusters", operator, auth.ClustersWrite, own, auth.ErrForbidden},
		{"operator tokens", operator, auth.TokensWrite, own, auth.ErrForbidden},
		{"admin clusters", admin, auth.ClustersWrite, own, nil},
		{"admin system", admin, auth.SystemRead, own, auth.ErrForbidden},
		{"other tenant is not found", admin, auth.ScalersRead, other, auth.ErrNotFound},
		{"other tenant read-only too", viewer, auth.ScalersWrite, other, auth.ErrNotFound},
		{"system admin across tenants", sys, auth.ScalersWrite, other, nil},
		{"system admin system", sys, auth.SystemRead, auth.Resource{}, nil},
		{"scoped in", scoped, auth.EventsWrite, own, nil},
		{"scoped out", scoped, auth.ScalersRead, own, auth.ErrForbidden},
		{"anonymous", auth.Principal{}, auth.ScalersRead, own, auth.ErrUnauthenticated},
		{"public", auth.Principal{}, auth.Public, auth.Resource{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := auth.Authorize(c.p, c.a, c.r)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Authorize: %v, want %v", err, c.want)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	live, _ := auth.Generate("acme")
	expired, _ := auth.Generate("acme")
	revoked, _ := auth.Generate("acme")
	err = s.Update(ctx, "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("Acme"); err != nil {
			return err
		}
		for _, tk := range []store.Token{
			{ID: live.ID, Name: "live", Role: store.RoleOperator, SecretHash: live.SecretHash, Scopes: []string{"events"}},
			{ID: expired.ID, Name: "expired", Role: store.RoleAdmin, SecretHash: expired.SecretHash, ExpiresAt: now.Add(-time.Second)},
			{ID: revoked.ID, Name: "revoked", Role: store.RoleAdmin, SecretHash: revoked.SecretHash},
		} {
			if _, err := tx.CreateToken(tk); err != nil {
				return err
			}
		}
		_, err := tx.RevokeToken(revoked.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{Store: s, Now: func() time.Time { return now }}
	p, err := a.Authenticate(ctx, live.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.TokenID != live.ID || p.Role != store.RoleOperator || len(p.Scopes) != 1 {
		t.Fatalf("principal %+v", p)
	}
	tk, err := s.Token(ctx, "acme", live.ID)
	if err != nil || !tk.LastUsedAt.Equal(now) {
		t.Fatalf("last used %v (%v), want %v", tk.LastUsedAt, err, now)
	}
	// Within the touch interval the use is not written again; after it, it is.
	later := now.Add(30 * time.Second)
	a.Now = func() time.Time { return later }
	if _, err := a.Authenticate(ctx, live.Token); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Token(ctx, "acme", live.ID); !tk.LastUsedAt.Equal(now) {
		t.Fatalf("last used %v within the interval, want %v", tk.LastUsedAt, now)
	}
	later = now.Add(time.Minute)
	if _, err := a.Authenticate(ctx, live.Token); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.Token(ctx, "acme", live.ID); !tk.LastUsedAt.Equal(later) {
		t.Fatalf("last used %v after the interval, want %v", tk.LastUsedAt, later)
	}
	a.Now = func() time.Time { return now }
	wrongSecret, _ := auth.Generate("acme")
	forged := forge(t, "acme", live.ID, wrongSecret)
	otherTenant := forge(t, "globex", live.ID, live)
	for name, token := range map[string]string{"expired": expired.Token, "revoked": revoked.Token, "wrong secret": forged, "other tenant": otherTenant} {
		t.Run(name, func(t *testing.T) {
			_, err := a.Authenticate(ctx, token)
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate: %v, want ErrUnauthenticated", err)
			}
			if strings.Contains(err.Error(), token[len(token)-30:]) {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
}

// forge builds a well-formed token of tenant and id with g's secret.
func forge(t testing.TB, tenant, id string, g auth.Generated) string {
	t.Helper()
	p, err := auth.Parse(g.Token)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSuffix(strings.TrimPrefix(g.Token, "hpa_"+string(p.Tenant)+"_"+p.ID+"_"), g.Token[len(g.Token)-9:])
	return auth.MakeToken(store.TenantID(tenant), id, secret)
}

func TestActorIn(t *testing.T) {
	p := auth.Principal{Tenant: "root", TokenID: "abc", SystemAdmin: true}
	for tenant, want := range map[store.TenantID]string{"root": "token:abc", "acme": "token:root/abc", "": "token:root/abc"} {
		if got := p.ActorIn(tenant); got != want {
			t.Errorf("ActorIn(%q) = %q, want %q", tenant, got, want)
		}
	}
}

// countingStore counts the token reads that reach the store.
type countingStore struct {
	auth.TokenStore
	reads int
}

func (c *countingStore) Token(ctx context.Context, tenant store.TenantID, id string) (store.Token, error) {
	c.reads++
	return c.TokenStore.Token(ctx, tenant, id)
}

// TestTokenCache: with CacheTTL a busy token is read once per TTL; the
// secret is still checked on every request; Forget makes a revocation
// hold at once; without Forget it holds after the TTL.
func TestTokenCache(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live, _ := auth.Generate("acme")
	other, _ := auth.Generate("acme")
	err = s.Update(ctx, "acme", "test", func(tx store.Tx) error {
		if _, err := tx.CreateTenant("acme"); err != nil {
			return err
		}
		for _, g := range []auth.Generated{live, other} {
			if _, err := tx.CreateToken(store.Token{ID: g.ID, Name: g.ID, Role: store.RoleViewer, SecretHash: g.SecretHash}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{TokenStore: s}
	a := &auth.Authenticator{Store: cs, CacheTTL: time.Hour}
	for range 5 {
		if _, err := a.Authenticate(ctx, live.Token); err != nil {
			t.Fatal(err)
		}
	}
	if cs.reads != 1 {
		t.Fatalf("%d reads of a token used 5 times within the TTL, want 1", cs.reads)
	}
	// A wrong secret for the cached id is refused from the cache.
	wrong, _ := auth.Generate("acme")
	if _, err := a.Authenticate(ctx, forge(t, "acme", live.ID, wrong)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a wrong secret against the cached row: %v, want ErrUnauthenticated", err)
	}
	revoke := func(id string) {
		t.Helper()
		if err := s.Update(ctx, "acme", "test", func(tx store.Tx) error { _, err := tx.RevokeToken(id); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// Revoked and forgotten: refused at once.
	revoke(live.ID)
	a.Forget("acme", live.ID)
	if _, err := a.Authenticate(ctx, live.Token); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a revoked, forgotten token: %v, want ErrUnauthenticated", err)
	}
	// Revoked elsewhere (no Forget): refused once the TTL has passed.
	short := &auth.Authenticator{Store: s, CacheTTL: 50 * time.Millisecond}
	if _, err := short.Authenticate(ctx, other.Token); err != nil {
		t.Fatal(err)
	}
	revoke(other.ID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := short.Authenticate(ctx, other.Token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token revoked elsewhere still accepted 10s later with a 50ms cache: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentScope(t *testing.T) {
	p := auth.Principal{Tenant: "t1", TokenID: "tok", Role: store.RoleOperator, Scopes: []string{auth.AgentScope("prod")}}
	if c, ok := auth.BoundCluster(p); !ok || c != "prod" {
		t.Fatalf("auth.BoundCluster: %q %v, want prod", c, ok)
	}
	if err := auth.Authorize(p, auth.AgentConnect, auth.Resource{Tenant: "t1", Kind: "cluster", Name: "prod"}); err != nil {
		t.Errorf("agent.connect of an agent token: %v", err)
	}
	for _, a := range []auth.Action{auth.ScalersRead, auth.ScalersWrite, auth.EventsWrite, auth.TokensWrite} {
		if err := auth.Authorize(p, a, auth.Resource{Tenant: "t1", Kind: "x", Name: "y"}); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s of an agent token: %v, want auth.ErrForbidden", a, err)
		}
	}
	if err := auth.Authorize(auth.Principal{Tenant: "t1", TokenID: "v", Role: store.RoleViewer}, auth.AgentConnect, auth.Resource{Tenant: "t1"}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("agent.connect of a viewer: %v, want auth.ErrForbidden", err)
	}
	if _, ok := auth.BoundCluster(auth.Principal{Scopes: []string{"scalers"}}); ok {
		t.Error("auth.BoundCluster of an unbound token: true")
	}
}
