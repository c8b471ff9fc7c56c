package cost

import (
	"fmt"
	"math/big"
	"time"
)

// Requests are one pod's resource requests: CPU in millicores, memory in
// bytes, GPUs (nvidia.com/gpu and the like) in whole devices.
type Requests struct {
	CPUMilli    int64 `json:"cpuMilli"`
	MemoryBytes int64 `json:"memoryBytes"`
	GPU         int64 `json:"gpu"`
}

// Validate refuses negative requests.
func (r Requests) Validate() error {
	if r.CPUMilli < 0 || r.MemoryBytes < 0 || r.GPU < 0 {
		return fmt.Errorf("requests cpu %dm, memory %d, gpu %d: want non-negative", r.CPUMilli, r.MemoryBytes, r.GPU)
	}
	return nil
}

// IsZero: nothing requested (the workload costs nothing).
func (r Requests) IsZero() bool { return r == Requests{} }

// Breakdown is a cost per resource. Total is their sum: each part is
// rounded once, the total adds the rounded parts (so that the parts of a
// report always add up to its total).
type Breakdown struct {
	CPU    Micros `json:"cpu"`
	Memory Micros `json:"memory"`
	GPU    Micros `json:"gpu"`
}

// Total is CPU + Memory + GPU.
func (b Breakdown) Total() Micros { return b.CPU + b.Memory + b.GPU }

// Add sums two breakdowns.
func (b Breakdown) Add(o Breakdown) Breakdown {
	return Breakdown{CPU: b.CPU + o.CPU, Memory: b.Memory + o.Memory, GPU: b.GPU + o.GPU}
}

// rateScale: a Rate's prices are micro-units per unit-hour × rateScale
// (a share and a discount, each in PPM, multiplied in exactly).
var rateScale = big.NewInt(int64(One) * int64(One))

// Rate is a pool's blended price per unit-hour, exact: for each resource
// (spotShare × spot + (1 − spotShare) × on-demand) × (1 − discount), in
// micro-units × 10^12.
type Rate struct {
	cpu, mem, gpu *big.Int
	// SpotShare is the share of the price at spot prices (0 without
	// spot).
	SpotShare PPM
}

// Rate is the pool's blended price. With spot false (the Scaler's
// costOptimization.spotInstancesEnabled off) the pool's spot share does
// not apply: on-demand prices, less the discount.
func (p Pool) Rate(spot bool) Rate {
	share := PPM(0)
	if spot {
		share = p.SpotShare
	}
	keep := big.NewInt(int64(One - p.Discount))
	blend := func(sp, od Micros) *big.Int {
		v := new(big.Int).Mul(big.NewInt(int64(share)), big.NewInt(int64(sp)))
		v.Add(v, new(big.Int).Mul(big.NewInt(int64(One-share)), big.NewInt(int64(od))))
		return v.Mul(v, keep)
	}
	return Rate{cpu: blend(p.Spot.CPU, p.OnDemand.CPU), mem: blend(p.Spot.Memory, p.OnDemand.Memory), gpu: blend(p.Spot.GPU, p.OnDemand.GPU), SpotShare: share}
}

var (
	bigMilli   = big.NewInt(1000)
	bigGiB     = big.NewInt(1 << 30)
	bigHourNs  = big.NewInt(int64(time.Hour))
	bigOneUnit = big.NewInt(1)
)

// part is replicasMilli/1000 × qty/unit × rate/rateScale × d/1h, exact
// until the one rounding.
func part(replicasMilli, qty int64, unit, rate *big.Int, d time.Duration) Micros {
	if replicasMilli == 0 || qty == 0 || rate == nil || rate.Sign() == 0 || d == 0 {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(replicasMilli), big.NewInt(qty))
	num.Mul(num, rate)
	num.Mul(num, big.NewInt(int64(d)))
	den := new(big.Int).Mul(bigMilli, unit)
	den.Mul(den, rateScale)
	den.Mul(den, bigHourNs)
	return Micros(roundDiv(num, den))
}

// Cost is the cost of replicasMilli/1000 replicas (an average over the
// step may be fractional) of pods with requests req during d. Each part
// (CPU, memory, GPU) is rounded half away from zero once; nothing is
// rounded before.
func (r Rate) Cost(replicasMilli int64, req Requests, d time.Duration) Breakdown {
	return Breakdown{
		CPU:    part(replicasMilli, req.CPUMilli, bigMilli, r.cpu, d),
		Memory: part(replicasMilli, req.MemoryBytes, bigGiB, r.mem, d),
		GPU:    part(replicasMilli, req.GPU, bigOneUnit, r.gpu, d),
	}
}

// PerReplicaHour is what one replica costs per hour: the exact sum of
// its parts, rounded once (half away from zero), at least 1 micro-unit
// when anything is requested at a non-zero price (a budget must never
// see a priced pod as free).
func (r Rate) PerReplicaHour(req Requests) Micros {
	if r.cpu == nil {
		return 0
	}
	// Common denominator: 1000 (milli) × 2^30 (GiB) × rateScale.
	num := new(big.Int).Mul(big.NewInt(req.CPUMilli), r.cpu)
	num.Mul(num, bigGiB)
	m := new(big.Int).Mul(big.NewInt(req.MemoryBytes), r.mem)
	m.Mul(m, bigMilli)
	num.Add(num, m)
	g := new(big.Int).Mul(big.NewInt(req.GPU), r.gpu)
	g.Mul(g, bigMilli)
	g.Mul(g, bigGiB)
	num.Add(num, g)
	den := new(big.Int).Mul(bigMilli, bigGiB)
	den.Mul(den, rateScale)
	v := Micros(roundDiv(num, den))
	if v == 0 && num.Sign() > 0 {
		v = 1
	}
	return v
}
