package cost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// EfficiencyReader is the part of the store the efficiency report reads
// (store.Store implements it).
type EfficiencyReader interface {
	CostAllocations(ctx context.Context, tenant store.TenantID, f store.CostFilter) ([]store.CostAllocation, error)
	ReadHistory(ctx context.Context, tenant store.TenantID, key store.SeriesKey, from, to time.Time) ([]store.HistoryPoint, error)
}

// EfficiencyReport is one scaler's requested and used resources and its
// actual replica-hours against a reactive-only replay, in a window.
type EfficiencyReport struct {
	// ActualReplicaHours: the cost samples' replicas × their steps.
	ActualReplicaHours float64
	// Reactive is the replay (nil when there was nothing to replay:
	// no trigger with a target, no stored history in the window, or the
	// step budget spent); ReactiveNote says why not.
	Reactive     *ReplayResult
	ReactiveNote string
	// ActualReplicaHoursReplayed is the actual replica-hours over the
	// replayed steps only, the numerator of the ratio.
	ActualReplicaHoursReplayed float64
	// Requested: replicas × one pod's requests over the samples.
	RequestedCPUCoreHours, RequestedMemoryByteHours float64
	// Used: from the resource triggers' stored values (nil without a cpu
	// or memory resource trigger with history); UsedCPU... over the steps
	// with both a sample and a value, RequestedCPU...Covered the
	// requests of those same steps.
	UsedCPUCoreHours, UsedMemoryByteHours                         *float64
	RequestedCPUCoreHoursCovered, RequestedMemoryByteHoursCovered float64
	// CPUMicrosCovered, RAMMicrosCovered: the cost of those steps, the
	// score's weights.
	CPUMicrosCovered, RAMMicrosCovered int64
	// Steps is the number of cost-sample steps read.
	Steps int
}

// sampleChunk is how many steps one CostAllocations call reads (the
// store's bucket limit).
const sampleChunk = store.MaxBuckets

// ComputeEfficiency reads sc's cost samples and trigger history in
// [from, to) and computes its report. At most maxSteps one-minute steps
// are read from from (0: MaxReplaySteps); the window past them is left
// out (Reactive.Truncated says so).
func ComputeEfficiency(ctx context.Context, r EfficiencyReader, tenant store.TenantID, sc store.Scaler, from, to time.Time, maxSteps int) (EfficiencyReport, error) {
	var rep EfficiencyReport
	if maxSteps <= 0 {
		maxSteps = MaxReplaySteps
	}
	step := time.Minute
	truncated := false
	if n := to.Sub(from) / step; n > time.Duration(maxSteps) {
		to, truncated = from.Add(time.Duration(maxSteps)*step), true
	}
	if !to.After(from) {
		return rep, nil
	}
	// The cost samples, one row per step, in chunks of the store's limit.
	var rows []store.CostAllocation
	for c := from; c.Before(to); c = c.Add(sampleChunk * step) {
		end := c.Add(sampleChunk * step)
		if end.After(to) {
			end = to
		}
		if end.Sub(c) < step {
			break
		}
		got, err := r.CostAllocations(ctx, tenant, store.CostFilter{From: c, To: end, Step: step, Aggregate: store.AggregateWorkload,
			Cluster: sc.Cluster, Namespace: sc.Namespace, Workload: sc.Name})
		if err != nil {
			return rep, err
		}
		for _, a := range got {
			if a.Cluster == sc.Cluster && a.Namespace == sc.Namespace && a.Workload == sc.Name {
				rows = append(rows, a)
			}
		}
	}
	rep.Steps = len(rows)
	actual := make([]ReplayPoint, 0, len(rows))
	for _, a := range rows {
		rep.ActualReplicaHours += float64(a.ReplicaMilliSeconds) / 1000 / 3600
		rep.RequestedCPUCoreHours += float64(a.CPUMilliCoreSeconds) / 1000 / 3600
		rep.RequestedMemoryByteHours += float64(a.RAMKiBSeconds) * 1024 / 3600
		actual = append(actual, ReplayPoint{Time: a.Start, Step: step, Value: float64(a.ReplicaMilliSeconds) / 1000 / step.Seconds()})
	}

	// The triggers' history.
	trs, skipped := ReplayTriggers(&sc.Spec, &sc.Status)
	for i := range trs {
		pts, err := r.ReadHistory(ctx, tenant, store.SeriesKey{Cluster: sc.Cluster, Namespace: sc.Namespace, Scaler: sc.Name, Trigger: trs[i].Name}, from, to)
		if err != nil {
			return rep, err
		}
		trs[i].Points = make([]ReplayPoint, len(pts))
		for j, p := range pts {
			trs[i].Points[j] = ReplayPoint{Time: p.Time, Step: p.Step, Value: p.Value}
		}
	}
	rep.usage(&sc, trs, rows, step)

	spec, err := ReplaySpec(&sc.Spec)
	switch {
	case err != nil:
		rep.ReactiveNote = "the spec does not convert: " + err.Error()
	case len(trs) == 0:
		rep.ReactiveNote = "no trigger with a target in the status"
		if len(skipped) > 0 {
			rep.ReactiveNote = fmt.Sprintf("no trigger with a target in the status (%d without)", len(skipped))
		}
	default:
		// The replay ends with the triggers' last stored step (not
		// held to the window's end), and the ratio compares the actual
		// replica-hours of the same span.
		end := from
		for _, t := range trs {
			if n := len(t.Points); n > 0 {
				if e := t.Points[n-1].Time.Add(max(t.Points[n-1].Step, step)); e.After(end) {
					end = e
				}
			}
		}
		end = minTime(end, to)
		res, err := ReactiveReplay(ReplayInput{Spec: spec, Triggers: trs, Actual: actual, From: from, To: end, Step: step, MaxSteps: maxSteps})
		switch {
		case errors.Is(err, ErrNoReplay):
			rep.ReactiveNote = "no stored history of the triggers in the window"
		case err != nil:
			return rep, err
		default:
			res.Truncated = res.Truncated || truncated
			rep.Reactive = &res
			for _, a := range rows {
				if !a.Start.Before(res.Start) && a.Start.Before(end) {
					rep.ActualReplicaHoursReplayed += float64(a.ReplicaMilliSeconds) / 1000 / 3600
				}
			}
		}
	}
	return rep, nil
}

// usage fills the used figures from the cpu and memory resource
// triggers: a Utilization value is a percentage of the requests (used =
// value/100 × the step's requested), an AverageValue one is per pod
// (cores, bytes: used = value × the step's replicas).
func (rep *EfficiencyReport) usage(sc *store.Scaler, trs []ReplayTrigger, rows []store.CostAllocation, step time.Duration) {
	for _, t := range triggersOf(&sc.Spec) {
		if t.Resource == nil || (t.Resource.ResourceName != "cpu" && t.Resource.ResourceName != "memory") {
			continue
		}
		name := t.Name
		if name == "" {
			name = t.Type
		}
		var pts []ReplayPoint
		for _, tr := range trs {
			if tr.Name == name {
				pts = tr.Points
			}
		}
		if len(pts) == 0 {
			continue
		}
		util := t.Resource.TargetType == "Utilization"
		cpu := t.Resource.ResourceName == "cpu"
		if (cpu && rep.UsedCPUCoreHours != nil) || (!cpu && rep.UsedMemoryByteHours != nil) {
			continue // the first trigger of a resource counts
		}
		var used, req float64
		var micros int64
		covered := false
		j := -1
		for _, a := range rows {
			for j+1 < len(pts) && !pts[j+1].Time.After(a.Start) {
				j++
			}
			if j < 0 || !a.Start.Before(pts[j].Time.Add(max(pts[j].Step, step))) {
				continue // no value for this step
			}
			covered = true
			v := pts[j].Value
			replicaHours := float64(a.ReplicaMilliSeconds) / 1000 / 3600
			if cpu {
				r := float64(a.CPUMilliCoreSeconds) / 1000 / 3600
				req += r
				micros += a.CPUMicros
				if util {
					used += v / 100 * r
				} else {
					used += v * replicaHours
				}
			} else {
				r := float64(a.RAMKiBSeconds) * 1024 / 3600
				req += r
				micros += a.RAMMicros
				if util {
					used += v / 100 * r
				} else {
					used += v * replicaHours
				}
			}
		}
		if !covered {
			continue
		}
		u := used
		if cpu {
			rep.UsedCPUCoreHours, rep.RequestedCPUCoreHoursCovered, rep.CPUMicrosCovered = &u, req, micros
		} else {
			rep.UsedMemoryByteHours, rep.RequestedMemoryByteHoursCovered, rep.RAMMicrosCovered = &u, req, micros
		}
	}
}

// Ratio is actual over reactive replica-hours (nil without a replay or
// with a reactive 0): above 1, prediction, caps or manual changes added
// capacity a reactive autoscaler would not have run.
func (rep *EfficiencyReport) Ratio() *float64 {
	if rep.Reactive == nil || rep.Reactive.ReplicaHours <= 0 {
		return nil
	}
	r := rep.ActualReplicaHoursReplayed / rep.Reactive.ReplicaHours
	return &r
}

// CPUUtilization and MemoryUtilization are used over requested on the
// steps with a usage value (nil without).
func (rep *EfficiencyReport) CPUUtilization() *float64 {
	return ratioOf(rep.UsedCPUCoreHours, rep.RequestedCPUCoreHoursCovered)
}

// MemoryUtilization: see CPUUtilization.
func (rep *EfficiencyReport) MemoryUtilization() *float64 {
	return ratioOf(rep.UsedMemoryByteHours, rep.RequestedMemoryByteHoursCovered)
}

func ratioOf(used *float64, req float64) *float64 {
	if used == nil || req <= 0 {
		return nil
	}
	r := *used / req
	return &r
}

// Score is hpa_efficiency_score over the window: each resource's
// utilisation (capped at 1) weighted by its cost on the steps with usage,
// as the Recorder's gauge weighs one step; nil without a usage value or
// without a cost. A resource without a usage value has weight 0 (the
// gauge's observations carry both resources' usage or neither, so there
// the two formulas agree).
func (rep *EfficiencyReport) Score() *float64 {
	cu, mu := rep.CPUUtilization(), rep.MemoryUtilization()
	if cu == nil && mu == nil {
		return nil
	}
	capped := func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return math.Min(*p, 1)
	}
	w := rep.CPUMicrosCovered + rep.RAMMicrosCovered
	if w <= 0 {
		return nil
	}
	s := (capped(cu)*float64(rep.CPUMicrosCovered) + capped(mu)*float64(rep.RAMMicrosCovered)) / float64(w)
	return &s
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
