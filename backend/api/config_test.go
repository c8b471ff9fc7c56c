package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConfig is a ConfigSource whose Reload answers what the test set.
type fakeConfig struct {
	reloads atomic.Int32
	res     ReloadResult
	err     error
}

func (c *fakeConfig) Current() any {
	return map[string]any{"backend": map[string]any{"port": 8080, "database": map[string]any{"password": "<redacted>"}}}
}

func (c *fakeConfig) Reload(context.Context) (ReloadResult, error) {
	c.reloads.Add(1)
	return c.res, c.err
}

func TestConfigRoutes(t *testing.T) {
	cfg := &fakeConfig{res: ReloadResult{Applied: []string{"backend.rateLimit.requestsPerMinute"}}}
	f := newFixture(t, sqliteURL, Options{Config: cfg})
	sys := f.tokens["root/system"]

	r := f.do("GET", "/api/v1/config", sys, nil)
	f.want(r, http.StatusOK)
	if !strings.Contains(string(r.body), `"password":"\u003credacted\u003e"`) && !strings.Contains(string(r.body), `"password":"<redacted>"`) {
		t.Fatalf("GET /api/v1/config: %s", r.body)
	}
	r = f.do("POST", "/api/v1/config/reload", sys, nil)
	f.want(r, http.StatusOK)
	var res ReloadResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.RestartRequired == nil {
		t.Fatalf("reload answered %s", r.body)
	}

	// A tenant's admin is not the installation's: the configuration is
	// for system admins only.
	for _, tok := range []string{"acme/admin", "acme/viewer"} {
		f.want(f.do("GET", "/api/v1/config", f.tokens[tok], nil), http.StatusForbidden)
		f.want(f.do("POST", "/api/v1/config/reload", f.tokens[tok], nil), http.StatusForbidden)
	}
	f.want(f.do("POST", "/api/v1/config/reload", "", nil), http.StatusUnauthorized)
	if n := cfg.reloads.Load(); n != 1 {
		t.Fatalf("%d reloads, want 1 (only the system admin's)", n)
	}

	// A file that does not parse: the source's 400 reaches the client.
	cfg.err = invalid("backend.rateLimit.burstSize", "must be > 0, got -1")
	r = f.do("POST", "/api/v1/config/reload", sys, nil)
	f.want(r, http.StatusBadRequest)
	if r.err().Field != "backend.rateLimit.burstSize" {
		t.Fatalf("reload of a bad file: %s", r.body)
	}
}

func TestConfigRoutesWithoutSource(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{})
	f.want(f.do("GET", "/api/v1/config", f.tokens["root/system"], nil), http.StatusNotFound)
	f.want(f.do("POST", "/api/v1/config/reload", f.tokens["root/system"], nil), http.StatusNotFound)
}

// TestSetRateLimit changes the limit of a serving handler: the new one
// holds at once, for buckets that existed and new ones.
func TestSetRateLimit(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{RequestsPerMinute: 60, BurstSize: 1})
	v := f.tokens["acme/viewer"]
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusTooManyRequests)

	f.h.SetRateLimit(60, 3)
	for range 3 {
		f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	}
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusTooManyRequests)

	f.h.SetRateLimit(-1, 0) // off
	for range 10 {
		f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	}
	f.h.SetRateLimit(0, 0) // the defaults: 600/min, burst 60
	for range 60 {
		f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	}
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusTooManyRequests)
	f.now = f.now.Add(100 * time.Millisecond) // 600/min: one more every 100ms
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
}
