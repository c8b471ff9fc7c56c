package simulate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// DefaultInterval is the HPA controller's sync period.
const DefaultInterval = 15 * time.Second

// Config describes the simulated workload.
type Config struct {
	// CapacityPerReplica is the demand one ready replica serves, in the
	// trace's units (required, > 0).
	CapacityPerReplica float64
	// TargetUtilization is the fraction of capacity the HPA targets, in
	// (0, 1].
	TargetUtilization float64
	// StartupDelay is how long a new pod takes to become ready.
	StartupDelay time.Duration
	// Interval is the decision interval (DefaultInterval when 0).
	Interval time.Duration
	// PricePerReplicaHour prices a replica-hour (0: cost 0).
	PricePerReplicaHour float64
	// TimelinePoints, when > 0, keeps a downsampled timeline of about that
	// many points per run (for plots).
	TimelinePoints int
	// Progress, when set, is called now and then with the decisions done
	// and the total over all runs.
	Progress func(done, total int)
}

// Run is one policy on one spec.
type Run struct {
	Name   string
	Spec   *scaling.Spec
	Policy Policy
}

// Sample is one point of a run's timeline: means over a time bucket.
type Sample struct {
	Time          time.Time
	Demand        float64
	ReadyCapacity float64
	Replicas      float64
}

// Result is what a run cost and missed.
type Result struct {
	Name string
	// UnservedDemand is the demand above ready capacity, integrated over
	// time, in the trace's units (a value held for one trace step counts
	// once).
	UnservedDemand float64
	// UnservedIntervals counts decision intervals with unserved demand.
	UnservedIntervals int
	// ReplicaHours counts every pod from creation (not-ready pods cost
	// too).
	ReplicaHours float64
	Cost         float64
	// ScalingActions counts changes of the replica count.
	ScalingActions int
	PeakReplicas   int32
	// Decisions counts engine decisions.
	Decisions int
	Timeline  []Sample
}

// Validate checks cfg; errors name the flag-like field.
func (c *Config) Validate() error {
	var errs []error
	if !(c.CapacityPerReplica > 0) || math.IsInf(c.CapacityPerReplica, 0) {
		errs = append(errs, fmt.Errorf("capacity-per-replica %v: expected a number greater than 0", c.CapacityPerReplica))
	}
	if !(c.TargetUtilization > 0 && c.TargetUtilization <= 1) {
		errs = append(errs, fmt.Errorf("target-utilization %v: expected a fraction in (0, 1]", c.TargetUtilization))
	}
	if c.StartupDelay < 0 {
		errs = append(errs, fmt.Errorf("startup-delay %v: expected 0 or more", c.StartupDelay))
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second) {
		errs = append(errs, fmt.Errorf("interval %v: expected at least 1s", c.Interval))
	}
	if c.PricePerReplicaHour < 0 || math.IsNaN(c.PricePerReplicaHour) || math.IsInf(c.PricePerReplicaHour, 0) {
		errs = append(errs, fmt.Errorf("price-per-replica-hour %v: expected 0 or more", c.PricePerReplicaHour))
	}
	return errors.Join(errs...)
}

// Model returns the model a policy sees for series.
func (c *Config) Model(series *demand.Series) Model {
	return Model{
		CapacityPerReplica: c.CapacityPerReplica,
		TargetUtilization:  c.TargetUtilization,
		StartupDelay:       c.StartupDelay,
		Step:               traceStep(series),
		Interval:           c.interval(),
	}
}

func (c *Config) interval() time.Duration {
	if c.Interval == 0 {
		return DefaultInterval
	}
	return c.Interval
}

func traceStep(series *demand.Series) time.Duration {
	if s := series.Step(); s > 0 {
		return s
	}
	return time.Hour
}

// Simulate runs every run over series, in order. It stops early when ctx
// is done.
func Simulate(ctx context.Context, series *demand.Series, cfg Config, runs []Run) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if series == nil || len(series.Points) == 0 {
		return nil, demand.ErrEmpty
	}
	step := traceStep(series)
	interval := cfg.interval()
	start := series.Points[0].Time
	end := series.Points[len(series.Points)-1].Time.Add(step)
	perRun := int((end.Sub(start) + interval - 1) / interval)
	total := perRun * len(runs)
	out := make([]Result, 0, len(runs))
	for i, r := range runs {
		s := &sim{cfg: &cfg, model: cfg.Model(series), series: series, step: step, interval: interval, start: start, end: end, perRun: perRun}
		if cfg.Progress != nil {
			done := i * perRun
			s.progress = func(n int) { cfg.Progress(done+n, total) }
		}
		res, err := s.run(ctx, r)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	if cfg.Progress != nil {
		cfg.Progress(total, total)
	}
	return out, nil
}

type sim struct {
	cfg      *Config
	model    Model
	series   *demand.Series
	step     time.Duration
	interval time.Duration
	start    time.Time
	end      time.Time
	perRun   int
	progress func(n int)
}

func (s *sim) run(ctx context.Context, r Run) (Result, error) {
	if r.Spec == nil || r.Policy == nil {
		return Result{}, fmt.Errorf("run %q: needs a spec and a policy", r.Name)
	}
	res := Result{Name: r.Name}
	pts := s.series.Points
	capacity := s.cfg.CapacityPerReplica
	stepNs := float64(s.step)
	intervalNs := int64(s.interval)
	startNs, endNs := s.start.UnixNano(), s.end.UnixNano()
	delayNs := int64(s.cfg.StartupDelay)
	// The spec gives bounds and behavior; the metric is the model's: demand
	// as an External metric with an AverageValue target per replica.
	specCopy := *r.Spec
	specCopy.Metrics = []scaling.MetricSpec{{Name: "demand", Type: scaling.ExternalMetric, Target: scaling.AverageValueTarget, TargetMilli: TargetMilli(s.cfg)}}
	spec := &specCopy

	// The workload is already running when the trace starts: as many
	// ready replicas as the HPA wants for the first demand.
	ready := min(max(s.model.Replicas(pts[0].Value), spec.MinReplicas, 1), spec.MaxReplicas)
	// pending holds the ready times (Unix ns) of pods not yet ready, in
	// creation order; head is its first live entry.
	pending := make([]int64, 0, 64)
	head := 0
	res.PeakReplicas = ready

	a := scaling.NewAutoscaler(spec)
	values := []int64{0}
	obs := &scaling.Observed{Metrics: []scaling.MetricValue{{ValuesMilli: values}}}

	var tl timeline
	if n := s.cfg.TimelinePoints; n > 0 {
		tl.bucket = max(1, (s.perRun+n-1)/n)
	}

	idx := 0
	i := 0
	for t := startNs; t < endNs; t += intervalNs {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if s.progress != nil {
				s.progress(i)
			}
		}
		i++
		for idx+1 < len(pts) && pts[idx+1].Time.UnixNano() <= t {
			idx++
		}
		for head < len(pending) && pending[head] <= t {
			ready++
			head++
		}
		current := ready + int32(len(pending)-head)
		obs.CurrentReplicas, obs.StatusReplicas, obs.ReadyPodCount = current, current, ready
		demand := pts[idx].Value
		values[0] = milli(demand)
		now := time.Unix(0, t)
		obs.ForecastFloor = r.Policy.Floor(pts[:idx+1], now, s.model)
		d := a.Step(obs, now)
		res.Decisions++
		desired := d.DesiredReplicas
		switch {
		case desired > current:
			for n := desired - current; n > 0; n-- {
				pending = append(pending, t+delayNs)
			}
			res.ScalingActions++
		case desired < current:
			remove := current - desired
			// Not-ready pods go first, the newest first.
			for remove > 0 && len(pending) > head {
				pending = pending[:len(pending)-1]
				remove--
			}
			ready -= remove
			res.ScalingActions++
		}
		if head > 0 && head == len(pending) {
			pending, head = pending[:0], 0
		}
		if c := ready + int32(len(pending)-head); c > res.PeakReplicas {
			res.PeakReplicas = c
		}

		// Integrate over [t, t+interval): demand changes at trace points,
		// capacity when pending pods become ready.
		segEnd := min(t+intervalNs, endNs)
		var unserved, capTime, demandTime, podTime float64
		for seg := t; seg < segEnd; {
			next := segEnd
			if head < len(pending) && pending[head] < next {
				next = pending[head]
			}
			if idx+1 < len(pts) {
				if pt := pts[idx+1].Time.UnixNano(); pt < next {
					next = pt
				}
			}
			length := float64(next - seg)
			readyCap := float64(ready) * capacity
			d := pts[idx].Value
			if d > readyCap {
				unserved += (d - readyCap) * length / stepNs
			}
			capTime += readyCap * length
			demandTime += d * length
			podTime += float64(ready+int32(len(pending)-head)) * length
			seg = next
			for head < len(pending) && pending[head] <= seg {
				ready++
				head++
			}
			for idx+1 < len(pts) && pts[idx+1].Time.UnixNano() <= seg {
				idx++
			}
		}
		if unserved > 0 {
			res.UnservedDemand += unserved
			res.UnservedIntervals++
		}
		res.ReplicaHours += podTime / float64(time.Hour)
		if tl.bucket > 0 {
			tl.add(t, float64(segEnd-t), demandTime, capTime, podTime, &res)
		}
	}
	tl.flush(&res)
	res.Cost = res.ReplicaHours * s.cfg.PricePerReplicaHour
	if s.progress != nil {
		s.progress(s.perRun)
	}
	return res, nil
}

// TargetMilli is the per-replica AverageValue target in milli-units:
// CapacityPerReplica × TargetUtilization.
func TargetMilli(cfg *Config) int64 {
	return max(milli(cfg.CapacityPerReplica*cfg.TargetUtilization), 1)
}

// milli converts a trace value to the engine's milli-units.
func milli(v float64) int64 {
	m := math.Round(v * 1000)
	switch {
	case m >= math.MaxInt64:
		return math.MaxInt64
	case m <= math.MinInt64:
		return math.MinInt64
	}
	return int64(m)
}

type timeline struct {
	bucket                      int
	n                           int
	at                          int64
	dur, demand, capacity, pods float64
}

func (tl *timeline) add(t int64, dur, demand, capacity, pods float64, res *Result) {
	if tl.n == 0 {
		tl.at = t
	}
	tl.n++
	tl.dur += dur
	tl.demand += demand
	tl.capacity += capacity
	tl.pods += pods
	if tl.n == tl.bucket {
		tl.flush(res)
	}
}

func (tl *timeline) flush(res *Result) {
	if tl.n == 0 || tl.dur == 0 {
		return
	}
	res.Timeline = append(res.Timeline, Sample{
		Time:          time.Unix(0, tl.at).UTC(),
		Demand:        tl.demand / tl.dur,
		ReadyCapacity: tl.capacity / tl.dur,
		Replicas:      tl.pods / tl.dur,
	})
	*tl = timeline{bucket: tl.bucket}
}
