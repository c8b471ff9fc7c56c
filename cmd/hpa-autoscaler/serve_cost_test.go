package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// TestServePricing: --pricing sets the table of the cost analysis; a
// reload (without --config) applies a changed file, and a bad one
// changes nothing and names the key.
func TestServePricing(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.yaml")
	if err := os.WriteFile(prices, []byte("currency: EUR\nonDemand: {cpu: \"0.04\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := cost.ReadTable(prices)
	if err != nil {
		t.Fatal(err)
	}
	s := startServeInProcess(t, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"), "--rate-limit", "-1", "--pricing", prices)
	base := "http://" + s.http
	token := readToken(t, filepath.Join(dir, adminTokenFileName))
	analysis := func() (currency, hash string) {
		t.Helper()
		code, body := get(t, base+"/api/v1/analytics/cost?window=7d&aggregate=namespace&step=1d", token)
		var c struct {
			Configured bool   `json:"configured"`
			Currency   string `json:"currency"`
			PriceTable string `json:"priceTable"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil || !c.Configured {
			t.Fatalf("cost: %d %s", code, body)
		}
		return c.Currency, c.PriceTable
	}
	if cur, hash := analysis(); cur != "EUR" || hash != first.Hash() {
		t.Fatalf("currency %s hash %s, want EUR %s", cur, hash, first.Hash())
	}
	// GET /api/v1/config shows the table in effect.
	if code, body := get(t, base+"/api/v1/config", token); code != http.StatusOK || !strings.Contains(body, `"pricing":{"file":"`+prices+`"`) || !strings.Contains(body, first.Hash()) {
		t.Fatalf("config: %d %s", code, body)
	}
	// A bad file: 400 naming pricing, the table in effect unchanged.
	if err := os.WriteFile(prices, []byte("currency: EUR\nonDemand: {cpu: -1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := reload(t, base, token)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"pricing"`) || !strings.Contains(body, "onDemand.cpu") {
		t.Fatalf("bad pricing reload: %d %s", code, body)
	}
	if _, hash := analysis(); hash != first.Hash() {
		t.Fatal("a bad file changed the table")
	}
	// A good one is applied.
	if err := os.WriteFile(prices, []byte("currency: USD\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body = reload(t, base, token)
	if code != http.StatusOK || !strings.Contains(body, `"pricing"`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	if cur, hash := analysis(); cur != "USD" || hash != cost.DefaultTable().Hash() {
		t.Fatalf("after reload: %s %s", cur, hash)
	}
	// The gauges are on serve's registry (no workload yet: no series,
	// but registering twice would have failed the start).
	if s.stop() != 0 {
		t.Fatalf("serve exited non-zero; stderr:\n%s", s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), `"cost: price table reloaded"`) {
		t.Errorf("no reload log line:\n%s", s.stderr.String())
	}
}

func TestServePricingBadFile(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.yaml")
	if err := os.WriteFile(prices, []byte("nodePools: [{name: a, size: 3}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := run(t.Context(), []string{"serve", "--db", "sqlite:" + filepath.Join(dir, "hpa.db"), "--grpc-addr", "127.0.0.1:0", "--pricing", prices}, strings.NewReader(""), &strings.Builder{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--pricing") || !strings.Contains(stderr.String(), "unknown key size") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// TestServePricingSIGHUP: SIGHUP re-reads --pricing (serve as a child
// process, without --config).
func TestServePricingSIGHUP(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.yaml")
	if err := os.WriteFile(prices, []byte("currency: EUR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startServe(t, "--pricing", prices, "--db", "sqlite:"+filepath.Join(dir, "hpa.db"))
	if err := os.WriteFile(prices, []byte("currency: USD\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Hash string `json:"hash"`
	}
	scalertest.Eventually(t, waitLimit, "the price table's reload log line", func() error {
		if !logRecord(c.stderr.String(), "cost: price table reloaded", &rec) {
			return errors.New("not logged yet")
		}
		return nil
	})
	if rec.Hash != cost.DefaultTable().Hash() {
		t.Errorf("reloaded hash %s, want the built-in table's %s", rec.Hash, cost.DefaultTable().Hash())
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, waitLimit, "serve's exit after SIGTERM"); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, c.stderr.String())
	}
}
