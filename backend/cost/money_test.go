package cost

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseMicros(t *testing.T) {
	tests := []struct {
		in      string
		want    Micros
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1250", want: 1_250_000_000},
		{in: "1250.00", want: 1_250_000_000},
		{in: "0.031611", want: 31_611},
		{in: "0.000001", want: 1},
		{in: "12.5", want: 12_500_000},
		{in: "0.0000001", wantErr: "at most 6 decimal places"},
		{in: "-1", wantErr: "negative"},
		{in: "NaN", wantErr: "non-negative decimal"},
		{in: ".nan", wantErr: "non-negative decimal"},
		{in: "1e3", wantErr: "non-negative decimal"},
		{in: "+1", wantErr: "non-negative decimal"},
		{in: "1.", wantErr: "non-negative decimal"},
		{in: ".5", wantErr: "non-negative decimal"},
		{in: "", wantErr: "want a decimal"},
		{in: "1 000", wantErr: "non-negative decimal"},
		{in: "99999999999999", wantErr: "too large"},
		{in: strings.Repeat("9", 40), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMicros(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMicros(%q) = %d, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMicros(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := ParsePPM("1.000001"); err == nil {
		t.Fatal("ParsePPM(1.000001): want an error")
	}
}

func TestMicrosString(t *testing.T) {
	for m, want := range map[Micros]string{0: "0.00", 1_250_000_000: "1250.00", 31_611: "0.031611", 12_500_000: "12.50", -3_500_000: "-3.50", 1: "0.000001", math.MinInt64: "-9223372036854.775808"} {
		if got := m.String(); got != want {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(m), got, want)
		}
		if m >= 0 {
			if back, err := ParseMicros(m.String()); err != nil || back != m {
				t.Errorf("ParseMicros(%q) = %d, %v", m.String(), back, err)
			}
		}
	}
}

// The one rounding: half away from zero.
func TestRoundDiv(t *testing.T) {
	for _, c := range []struct{ num, den, want int64 }{
		{5, 2, 3}, {-5, 2, -3}, {7, 2, 4}, {1, 3, 0}, {2, 3, 1}, {-2, 3, -1}, {-1, 3, 0}, {0, 7, 0}, {6, 3, 2},
		{1_000_001, 2_000_000, 1}, {999_999, 2_000_000, 0},
	} {
		if got := roundDiv(big.NewInt(c.num), big.NewInt(c.den)); got != c.want {
			t.Errorf("roundDiv(%d, %d) = %d, want %d", c.num, c.den, got, c.want)
		}
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 100)
	if got := roundDiv(huge, big.NewInt(1)); got != math.MaxInt64 {
		t.Errorf("overflow: %d", got)
	}
}

// The arithmetic of a workload's cost, in micro-units, against figures
// worked by hand from OpenCost's default prices.
func TestCost(t *testing.T) {
	def := DefaultTable()
	pool := func(capacity CapacityType, share, discount PPM) Pool {
		p := def.Pool("", "")
		p.CapacityType, p.SpotShare, p.Discount = capacity, share, discount
		return p
	}
	const GiB = 1 << 30
	tests := []struct {
		name          string
		pool          Pool
		spot          bool
		replicasMilli int64
		req           Requests
		d             time.Duration
		want          Breakdown
	}{
		{name: "one vCPU for an hour", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: time.Hour, want: Breakdown{CPU: 31_611}},
		{name: "one GiB for an hour", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{MemoryBytes: GiB}, d: time.Hour, want: Breakdown{Memory: 4_237}},
		{name: "one GPU for an hour", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{GPU: 1}, d: time.Hour, want: Breakdown{GPU: 950_000}},
		// 31611 / 60 = 526.85 -> 527
		{name: "one vCPU for a minute rounds up", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: time.Minute, want: Breakdown{CPU: 527}},
		// 31611 / 2 = 15805.5 -> 15806: half away from zero
		{name: "a half rounds away from zero", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: 30 * time.Minute, want: Breakdown{CPU: 15_806}},
		// 4237 / 2 = 2118.5 -> 2119
		{name: "512 MiB for an hour", pool: pool(OnDemand, 0, 0), replicasMilli: 1000, req: Requests{MemoryBytes: GiB / 2}, d: time.Hour, want: Breakdown{Memory: 2_119}},
		// 2.5 replicas × 250m × 31611 / 60 = 329.28 -> 329; 2.5 × 0.5 GiB × 4237 / 60 = 88.27 -> 88
		{name: "average replicas, a minute", pool: pool(OnDemand, 0, 0), replicasMilli: 2500, req: Requests{CPUMilli: 250, MemoryBytes: GiB / 2}, d: time.Minute, want: Breakdown{CPU: 329, Memory: 88}},
		// (0.5 × 6655 + 0.5 × 31611) × 0.9 = 17219.7 -> 17220
		{name: "mixed pool, spot on, discount", pool: pool(Mixed, 500_000, 100_000), spot: true, replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: time.Hour, want: Breakdown{CPU: 17_220}},
		// 31611 × 0.9 = 28449.9 -> 28450: without spotInstancesEnabled the share does not apply
		{name: "mixed pool, spot off", pool: pool(Mixed, 500_000, 100_000), replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: time.Hour, want: Breakdown{CPU: 28_450}},
		{name: "spot pool", pool: pool(Spot, One, 0), spot: true, replicasMilli: 3000, req: Requests{CPUMilli: 1000, MemoryBytes: GiB, GPU: 1}, d: time.Hour, want: Breakdown{CPU: 19_965, Memory: 2_676, GPU: 598_500}},
		{name: "zero replicas cost nothing", pool: pool(OnDemand, 0, 0), replicasMilli: 0, req: Requests{CPUMilli: 1000}, d: time.Hour, want: Breakdown{}},
		{name: "a full discount", pool: pool(OnDemand, 0, One), replicasMilli: 1000, req: Requests{CPUMilli: 1000}, d: time.Hour, want: Breakdown{}},
		// 1,000 replicas × 64 vCPU × 30 days: 1000 × 64 × 31611 × 720 = 1,456,634,880,000 micro-units
		{name: "large", pool: pool(OnDemand, 0, 0), replicasMilli: 1_000_000, req: Requests{CPUMilli: 64_000}, d: 720 * time.Hour, want: Breakdown{CPU: 1_456_634_880_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pool.Rate(tt.spot).Cost(tt.replicasMilli, tt.req, tt.d)
			if got != tt.want {
				t.Fatalf("Cost = %+v, want %+v", got, tt.want)
			}
			if got.Total() != tt.want.CPU+tt.want.Memory+tt.want.GPU {
				t.Fatal("Total is not the sum of the parts")
			}
		})
	}
}

func TestPerReplicaHour(t *testing.T) {
	r := DefaultTable().Pool("", "").Rate(false)
	for _, c := range []struct {
		req  Requests
		want Micros
	}{
		{Requests{CPUMilli: 1000, MemoryBytes: 1 << 30}, 35_848},
		{Requests{CPUMilli: 500, MemoryBytes: 1 << 29}, 17_924},
		{Requests{CPUMilli: 100}, 3_161}, // 3161.1
		{Requests{MemoryBytes: 1}, 1},    // a priced pod is never free
		{Requests{}, 0},
	} {
		if got := r.PerReplicaHour(c.req); got != c.want {
			t.Errorf("PerReplicaHour(%+v) = %d, want %d", c.req, got, c.want)
		}
	}
}
