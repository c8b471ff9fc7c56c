package cost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultTable(t *testing.T) {
	d := DefaultTable()
	p := d.Pool("", "")
	want := Pool{Name: "default", CapacityType: OnDemand, InstanceTypes: []string{},
		OnDemand: Prices{CPU: 31_611, Memory: 4_237, GPU: 950_000}, Spot: Prices{CPU: 6_655, Memory: 892, GPU: 199_500}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("default pool (-want +got):\n%s", diff)
	}
	if d.Currency() != "USD" || len(d.Hash()) != 64 {
		t.Fatalf("currency %q hash %q", d.Currency(), d.Hash())
	}
	// An empty file is the built-in table.
	e, err := ParseTable(nil)
	if err != nil || e.Hash() != d.Hash() {
		t.Fatalf("empty table: %v, hash %s vs %s", err, e.Hash(), d.Hash())
	}
}

const sample = `
currency: EUR
onDemand: {cpu: "0.04", memory: 0.005, gpu: "1.20"}
spotRatio: "0.3"
defaultPool: general
nodePools:
  - name: general
    capacityType: on-demand
    discount: "0.10"
    instanceTypes: [m5.large, m5.xlarge]
  - name: batch
    capacityType: mixed
    spotShare: "0.75"
    instanceTypes: [c5.large]
    spot: {cpu: "0.01"}
  - name: gpu
    capacityType: spot
    onDemand: {gpu: "2.00"}
`

func TestParseTable(t *testing.T) {
	tb, err := ParseTable([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pool{
		{Name: "general", CapacityType: OnDemand, Discount: 100_000, InstanceTypes: []string{"m5.large", "m5.xlarge"},
			OnDemand: Prices{CPU: 40_000, Memory: 5_000, GPU: 1_200_000}, Spot: Prices{CPU: 12_000, Memory: 1_500, GPU: 360_000}},
		{Name: "batch", CapacityType: Mixed, SpotShare: 750_000, InstanceTypes: []string{"c5.large"},
			OnDemand: Prices{CPU: 40_000, Memory: 5_000, GPU: 1_200_000}, Spot: Prices{CPU: 10_000, Memory: 1_500, GPU: 360_000}},
		// The pool's own on-demand price, the table's spot ratio.
		{Name: "gpu", CapacityType: Spot, SpotShare: One, InstanceTypes: []string{},
			OnDemand: Prices{CPU: 40_000, Memory: 5_000, GPU: 2_000_000}, Spot: Prices{CPU: 12_000, Memory: 1_500, GPU: 600_000}},
	}
	if diff := cmp.Diff(want, tb.Pools()); diff != "" {
		t.Fatalf("pools (-want +got):\n%s", diff)
	}
	if tb.Currency() != "EUR" {
		t.Fatalf("currency %s", tb.Currency())
	}
	for _, c := range []struct{ pool, it, want string }{{"batch", "", "batch"}, {"", "c5.large", "batch"}, {"", "m5.xlarge", "general"}, {"", "t3.nano", "general"}, {"nope", "", "general"}} {
		if got := tb.Pool(c.pool, c.it).Name; got != c.want {
			t.Errorf("Pool(%q, %q) = %s, want %s", c.pool, c.it, got, c.want)
		}
	}
	// The hash is of the values: another layout of the same table has
	// the same hash; another price, another hash.
	relaid := strings.ReplaceAll(strings.ReplaceAll(sample, `"0.04"`, `0.040000`), "currency: EUR", "currency: \"EUR\"")
	tb2, err := ParseTable([]byte(relaid))
	if err != nil || tb2.Hash() != tb.Hash() {
		t.Fatalf("same table, another layout: %v, %s vs %s", err, tb2.Hash(), tb.Hash())
	}
	tb3, err := ParseTable([]byte(strings.Replace(sample, `spotShare: "0.75"`, `spotShare: "0.76"`, 1)))
	if err != nil || tb3.Hash() == tb.Hash() {
		t.Fatalf("another share, same hash: %v", err)
	}
	// ReadTable names the file.
	path := filepath.Join(t.TempDir(), "prices.yaml")
	if err := os.WriteFile(path, []byte("onDemand: {cpu: -1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTable(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "onDemand.cpu") {
		t.Fatalf("ReadTable: %v", err)
	}
}

func TestParseTableErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "onDemand: {cpu: 1}\nspotPrice: 2\n", `unknown key spotPrice`},
		{"unknown pool key", "nodePools: [{name: a, size: 3}]\n", `unknown key size`},
		{"negative price", "onDemand: {cpu: -0.5}\n", `onDemand.cpu "-0.5": negative`},
		{"NaN", "spot: {memory: .nan}\n", `spot.memory ".nan"`},
		{"infinity", "onDemand: {gpu: .inf}\n", `onDemand.gpu ".inf"`},
		{"too precise", "onDemand: {cpu: 0.0000001}\n", "at most 6 decimal places"},
		{"a mapping for a price", "onDemand: {cpu: {a: 1}}\n", "want a decimal number, not a mapping"},
		{"share above one", "nodePools: [{name: a, capacityType: mixed, spotShare: 1.5}]\n", `nodePools[0].spotShare "1.5": want a fraction`},
		{"mixed without share", "nodePools: [{name: a, capacityType: mixed}]\n", "nodePools[0].spotShare: required"},
		{"share of on-demand", "nodePools: [{name: a, spotShare: 0.5}]\n", "an on-demand pool has no spot share"},
		{"capacity type", "nodePools: [{name: a, capacityType: reserved}]\n", `nodePools[0].capacityType "reserved"`},
		{"discount", "nodePools: [{name: a, discount: 2}]\n", `nodePools[0].discount "2"`},
		{"no name", "nodePools: [{capacityType: spot}]\n", "nodePools[0].name: required"},
		{"duplicate", "nodePools: [{name: a}, {name: a}]\n", `nodePools[1].name "a": a second pool`},
		{"default pool", "defaultPool: b\nnodePools: [{name: a}]\n", `defaultPool "b"`},
		{"currency", "currency: dollars\n", `currency "dollars"`},
		{"two documents", "currency: USD\n---\ncurrency: EUR\n", "more than one YAML document"},
		{"not a mapping", "- 1\n", "cannot unmarshal"},
		{"spot ratio", "spotRatio: 21%\n", `spotRatio "21%"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTable([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseTable: %v; want an error with %q", err, tt.want)
			}
		})
	}
	// Every error is reported, not the first only.
	_, err := ParseTable([]byte("onDemand: {cpu: -1, memory: x}\nnodePools: [{name: a, discount: 3}]\n"))
	if err == nil || !strings.Contains(err.Error(), "onDemand.cpu") || !strings.Contains(err.Error(), "onDemand.memory") || !strings.Contains(err.Error(), "nodePools[0].discount") {
		t.Fatalf("joined errors: %v", err)
	}
}

func FuzzParseTable(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("onDemand: {cpu: 1}\n"))
	f.Add([]byte("nodePools: [{name: a, capacityType: mixed, spotShare: 0.5}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := ParseTable(b)
		if err != nil {
			return
		}
		// A table that parses prices every pool without a negative.
		for _, p := range tb.Pools() {
			for _, m := range []Micros{p.OnDemand.CPU, p.OnDemand.Memory, p.OnDemand.GPU, p.Spot.CPU, p.Spot.Memory, p.Spot.GPU} {
				if m < 0 {
					t.Fatalf("negative price in %+v", p)
				}
			}
			if p.SpotShare < 0 || p.SpotShare > One || p.Discount < 0 || p.Discount > One {
				t.Fatalf("share or discount out of range in %+v", p)
			}
			if c := p.Rate(true).Cost(1000, Requests{CPUMilli: 1000, MemoryBytes: 1 << 30, GPU: 1}, 3600e9); c.Total() < 0 {
				t.Fatalf("negative cost %+v", c)
			}
		}
		if len(tb.Hash()) != 64 {
			t.Fatal("no hash")
		}
	})
}

func FuzzParseMicros(f *testing.F) {
	for _, s := range []string{"0", "1.5", "0.031611", "-1", "1e5", "NaN", "99999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMicros(s)
		if err != nil {
			return
		}
		if m < 0 {
			t.Fatalf("ParseMicros(%q) = %d", s, m)
		}
		back, err := ParseMicros(m.String())
		if err != nil || back != m {
			t.Fatalf("round trip of %q: %q -> %d, %v", s, m.String(), back, err)
		}
	})
}
