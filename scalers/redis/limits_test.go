package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestListLimits: a trigger with more addresses, hosts or ports than the
// server's limit is refused when it is parsed, by every type, naming the
// key as the metadata gives it; at the limit it is accepted.
func TestListLimits(t *testing.T) {
	seeds := func(n int) string {
		a := make([]string, n)
		for i := range a {
			a[i] = "10.0.0.1:" + strconv.Itoa(7000+i)
		}
		return strings.Join(a, ",")
	}
	repeat := func(s string, n int) string { return strings.TrimSuffix(strings.Repeat(s+",", n), ",") }
	base := map[string]string{"listName": "jobs", "stream": "events", "sentinelMaster": "m"}
	tests := []struct {
		name string
		md   map[string]string
		want string // "" for none
	}{
		{"5000 addresses", scalertest.WithKeys(base, "addresses", seeds(5000)),
			"invalid metadata: addresses: 5000 items, more than the limit of 100"},
		{"5000 addresses under address", scalertest.WithKeys(base, "address", seeds(5000)),
			"invalid metadata: address: 5000 items, more than the limit of 100"},
		{"101 addresses from the environment", scalertest.WithKeys(base, "addressesFromEnv", seeds(101)),
			"invalid metadata: addressesFromEnv: 101 items, more than the limit of 100"},
		{"5000 hosts and ports", scalertest.WithKeys(base, "hosts", repeat("10.0.0.1", 5000), "ports", repeat("6379", 5000)),
			"invalid metadata: hosts: 5000 items, more than the limit of 100; ports: 5000 items, more than the limit of 100"},
		{"100 addresses", scalertest.WithKeys(base, "addresses", seeds(100)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range Types() {
				s, err := NewClients(ClientsOptions{}).Factory(typ)(t.Context(), scalers.Config{Type: typ, Metadata: tc.md, Limits: scalers.Limits{}})
				if tc.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", typ, err)
					}
					_ = s.Close()
					continue
				}
				if err == nil {
					_ = s.Close()
					t.Fatalf("%s: got a scaler, want an error", typ)
				}
				checkMetadataError(t, err, tc.want)
			}
		})
	}
}

// TestMaxClients: distinct connection settings each take a shared client;
// beyond MaxClients the build is refused with ErrLimit, naming the limit,
// until closing scalers frees one. Scalers that share settings share one
// client, and count once.
func TestMaxClients(t *testing.T) {
	clients := NewClients(ClientsOptions{MaxClients: 3})
	stats := func() [2]int {
		open, limit := clients.Stats()
		return [2]int{open, limit}
	}
	build := func(password string) (scalers.Scaler, error) {
		// Nothing listens there: building does not connect.
		md := map[string]string{"address": "127.0.0.1:1", "listName": "jobs", "password": password}
		return clients.NewList(t.Context(), scalers.Config{Metadata: md})
	}
	var ss []scalers.Scaler
	for i := range 3 {
		for range 2 { // the second shares the first's client
			s, err := build("password-" + strconv.Itoa(i))
			if err != nil {
				t.Fatalf("scaler %d: %v", i, err)
			}
			ss = append(ss, s)
		}
	}
	if diff := cmp.Diff([2]int{3, 3}, stats()); diff != "" {
		t.Errorf("Stats with 6 scalers on 3 settings (-want +got):\n%s", diff)
	}
	s, err := build("password-3")
	if err == nil {
		_ = s.Close()
		t.Fatalf("a fourth distinct client: got a scaler, want ErrLimit")
	}
	if !errors.Is(err, scalers.ErrLimit) || errors.Is(err, scalers.ErrInvalidConfig) || errors.Is(err, scalers.ErrUnavailable) {
		t.Errorf("error %q: want it to wrap ErrLimit only", err)
	}
	want := "redis: 3 distinct connections open, the limit (--max-source-connections): " + scalers.ErrLimit.Error()
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), "password-3") {
		t.Errorf("error %q reveals the password", err)
	}
	// Settings already open still build.
	s, err = build("password-0")
	if err != nil {
		t.Fatalf("a scaler on open settings at the limit: %v", err)
	}
	ss = append(ss, s)

	// One client is freed only when its last scaler closes.
	must(t, ss[0].Close())
	if _, err := build("password-3"); !errors.Is(err, scalers.ErrLimit) {
		t.Fatalf("with a client still used by one scaler: %v, want ErrLimit", err)
	}
	must(t, ss[1].Close())
	must(t, ss[6].Close())
	if diff := cmp.Diff([2]int{2, 3}, stats()); diff != "" {
		t.Errorf("Stats after closing a client's scalers (-want +got):\n%s", diff)
	}
	s, err = build("password-3")
	if err != nil {
		t.Fatalf("after a client was freed: %v", err)
	}
	ss = append(ss, s)
	for _, s := range ss[2:] {
		must(t, s.Close())
	}
	if diff := cmp.Diff([2]int{0, 3}, stats()); diff != "" {
		t.Errorf("Stats after closing every scaler (-want +got):\n%s", diff)
	}
	if _, limit := NewClients(ClientsOptions{}).Stats(); limit != DefaultMaxClients {
		t.Errorf("default MaxClients %d, want %d", limit, DefaultMaxClients)
	}
}

// TestBuildDoesNoIO: building a scaler of any type, and asking its metric
// spec, contacts nothing, even a sentinel whose master must be looked up;
// the first Metrics call connects.
func TestBuildDoesNoIO(t *testing.T) {
	hole := scalertest.NewBlackHole(t)
	md := map[string]string{"address": hole.Addr(), "listName": "jobs", "stream": "events", "sentinelMaster": "m"}
	var ss []scalers.Scaler
	for _, typ := range Types() {
		for _, f := range []scalers.Factory{Factory(typ), NewClients(ClientsOptions{}).Factory(typ)} {
			s := boundedScaler(t, f, md)
			if len(s.MetricSpecs()) != 1 {
				t.Fatalf("%s: specs %v", typ, s.MetricSpecs())
			}
			ss = append(ss, s)
		}
	}
	// A dial at build time would have connected well within this on any
	// machine; nothing may arrive in it.
	select {
	case <-time.After(300 * time.Millisecond):
	case <-t.Context().Done():
	}
	if n := hole.Accepted(); n != 0 {
		t.Fatalf("building %d scalers opened %d connections, want none", len(ss), n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, _ = ss[0].Metrics(ctx)
	scalertest.Eventually(t, waitLimit, "the first Metrics call to connect", func() error {
		if hole.Accepted() == 0 {
			return fmt.Errorf("no connection yet")
		}
		return nil
	})
}
