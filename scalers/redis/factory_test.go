package redis

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestTypes(t *testing.T) {
	want := []string{"redis", "redis-cluster", "redis-cluster-streams", "redis-sentinel", "redis-sentinel-streams", "redis-streams"}
	if diff := cmp.Diff(want, Types()); diff != "" {
		t.Errorf("Types (-want +got):\n%s", diff)
	}
	if f := Factory("redis-list"); f != nil {
		t.Errorf(`Factory("redis-list"): got a factory, want nil`)
	}
	if err := scalers.NewRegistry().Register("redis-list", NewClients(ClientsOptions{}).Factory("redis-list")); err == nil {
		t.Errorf(`registering Factory("redis-list"): got no error, want the registry to refuse a nil factory`)
	}
}

// built is what a factory decided, for comparison.
type built struct {
	Measure string // "list" or "stream"
	Topo    string
	Addrs   []string
	Metric  string
	Shared  bool
}

func describeBuilt(tb testing.TB, s scalers.Scaler) built {
	tb.Helper()
	got := built{Measure: "list"}
	if _, ok := s.(*streamsScaler); ok {
		got.Measure = "stream"
	}
	b := baseOf(tb, s)
	got.Topo, got.Addrs, got.Metric, got.Shared = b.sc.conn.topo.String(), b.sc.conn.addrs, s.MetricSpecs()[0].Name, b.clients != nil
	return got
}

// TestFactories builds every type through Factory, with dedicated and
// shared clients, and through its named factory: each name has its
// topology and measurement, as in KEDA.
func TestFactories(t *testing.T) {
	md := map[string]string{"addresses": "127.0.0.1:1,127.0.0.1:2", "sentinelMaster": "m", "listName": "jobs", "stream": "events"}
	tests := []struct {
		typ   string
		named func(*Clients, context.Context, scalers.Config) (scalers.Scaler, error)
		want  built
	}{
		{"redis", (*Clients).NewList, built{Measure: "list", Topo: "redis", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-jobs"}},
		{"redis-cluster", (*Clients).NewClusterList, built{Measure: "list", Topo: "redis cluster", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-jobs"}},
		{"redis-sentinel", (*Clients).NewSentinelList, built{Measure: "list", Topo: "redis sentinel", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-jobs"}},
		{"redis-streams", (*Clients).NewStreams, built{Measure: "stream", Topo: "redis", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-streams-events"}},
		{"redis-cluster-streams", (*Clients).NewClusterStreams, built{Measure: "stream", Topo: "redis cluster", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-streams-events"}},
		{"redis-sentinel-streams", (*Clients).NewSentinelStreams, built{Measure: "stream", Topo: "redis sentinel", Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, Metric: "redis-streams-events"}},
	}
	if len(tests) != len(Types()) {
		t.Fatalf("%d cases for %d types %v", len(tests), len(Types()), Types())
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			shared := NewClients(ClientsOptions{})
			ways := []struct {
				name   string
				f      scalers.Factory
				shared bool
			}{
				{"Factory", Factory(tc.typ), false},
				{"Clients.Factory", shared.Factory(tc.typ), true},
				{"named with dedicated clients", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
					return tc.named(nil, ctx, cfg)
				}, false},
				{"named with shared clients", func(ctx context.Context, cfg scalers.Config) (scalers.Scaler, error) {
					return tc.named(shared, ctx, cfg)
				}, true},
			}
			for _, w := range ways {
				want := tc.want
				want.Shared = w.shared
				if diff := cmp.Diff(want, describeBuilt(t, newScaler(t, w.f, md))); diff != "" {
					t.Errorf("%s (-want +got):\n%s", w.name, diff)
				}
			}
		})
	}
}

// TestFactoriesBadMetadata: every type reports the errors of its own keys
// and of its topology, without the password.
func TestFactoriesBadMetadata(t *testing.T) {
	const (
		prefix  = "invalid metadata: "
		address = "address: no Redis address: set address (host:port, or a comma-separated list), or host and port"
		master  = "sentinelMaster: required: the name of the master the sentinels monitor"
		list    = "listName: required key is missing"
		stream  = "stream: required key is missing"
	)
	noKey := map[string]string{"password": "topsecret-value", "address": "127.0.0.1:1"}
	noAddress := map[string]string{"password": "topsecret-value", "listName": "jobs", "stream": "events"}
	tests := []struct {
		typ                      string
		wantNoKey, wantNoAddress string
	}{
		{"redis", prefix + list, prefix + address},
		{"redis-cluster", prefix + list, prefix + address},
		{"redis-sentinel", prefix + master + "; " + list, prefix + address + "; " + master},
		{"redis-streams", prefix + stream, prefix + address},
		{"redis-cluster-streams", prefix + stream, prefix + address},
		{"redis-sentinel-streams", prefix + master + "; " + stream, prefix + address + "; " + master},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			for _, c := range []struct {
				md   map[string]string
				want string
			}{{noKey, tc.wantNoKey}, {noAddress, tc.wantNoAddress}} {
				s, err := Factory(tc.typ)(t.Context(), scalers.Config{Type: tc.typ, Metadata: c.md})
				if err == nil {
					_ = s.Close()
					t.Fatalf("metadata %v: got a scaler, want a metadata error", redactedMD(c.md))
				}
				checkMetadataError(t, err, c.want)
			}
		})
	}
}

// TestFactoriesRejectUnusableAddresses: an address that cannot be dialled
// is an InvalidArgument of the build, for every type, never an outage
// reported by each call.
func TestFactoriesRejectUnusableAddresses(t *testing.T) {
	base := map[string]string{"listName": "jobs", "stream": "events", "sentinelMaster": "m"}
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"host [::1", scalertest.WithKeys(base, "host", "[::1", "port", "6379"),
			`invalid metadata: host "[::1": expected a host name or an IP address (an IPv6 address without brackets)`},
		{"port 99999", scalertest.WithKeys(base, "host", "redis", "port", "99999"), `invalid metadata: port "99999": must be <= 65535`},
		{"address with port 99999", scalertest.WithKeys(base, "address", "redis:99999"),
			`invalid metadata: address "redis:99999": expected host:port with a port in 1..65535`},
		{"a URL", scalertest.WithKeys(base, "address", "redis://redis:6379"), `invalid metadata: address "redis://redis:6379": expected host:port, not a URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range Types() {
				s, err := NewClients(ClientsOptions{}).Factory(typ)(t.Context(), scalers.Config{Type: typ, Metadata: tc.md})
				if err == nil {
					_ = s.Close()
					t.Fatalf("%s: got a scaler, want a metadata error", typ)
				}
				checkMetadataError(t, err, tc.want)
			}
		})
	}
}

// TestBound: every type states the bound of its calls, the server's
// default (Redis triggers have no timeout key), capped at the maximum.
func TestBound(t *testing.T) {
	md := map[string]string{"address": "127.0.0.1:1", "listName": "jobs", "stream": "events", "sentinelMaster": "m"}
	tests := []struct {
		name     string
		timeouts scalers.Timeouts
		want     time.Duration
	}{
		{"defaults", scalers.Timeouts{}, scalers.DefaultSourceTimeout},
		{"--source-timeout 1s", scalers.Timeouts{Default: time.Second}, time.Second},
		{"a default above the maximum", scalers.Timeouts{Default: time.Minute, Max: 10 * time.Second}, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range Types() {
				s, err := NewClients(ClientsOptions{}).Factory(typ)(t.Context(), scalers.Config{Type: typ, Metadata: md, Timeouts: tc.timeouts})
				must(t, err)
				got := s.(interface{ Bound() time.Duration }).Bound()
				_ = s.Close()
				if got != tc.want {
					t.Errorf("%s: Bound %s, want %s", typ, got, tc.want)
				}
			}
		})
	}
}
