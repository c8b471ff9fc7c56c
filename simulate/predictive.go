package simulate

import (
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/predictor"
)

// predictivePolicy feeds each trace point to a predictor.Stream as a
// polled sample at its time (Stream.Observe), as the live paths (the CRD
// agent and the external scaler) feed the values they fetch: a step is
// known to the predictor once it is over, and the step in progress is the
// decision's own observed point, served by the reactive HPA. At every
// decision it asks the stream for the replicas whose capacity covers the
// upper bound of the 80% forecast interval over the steps after the one
// in progress that start within the next decision interval plus the pods'
// start-up delay (Stream.Floor).
type predictivePolicy struct {
	stream *predictor.Stream
	floor  predictor.FloorOptions
	fed    int
}

// NewPredictive builds the "predictive" policy for one run: the reactive
// HPA with a forecast floor from package predictor.
func NewPredictive(m Model) (Policy, error) {
	floor := predictor.FloorOptions{
		// One decision interval of look-ahead: a pod created at the last
		// decision before a step is ready when the step begins.
		LookAhead:    m.Interval,
		StartupDelay: m.StartupDelay,
		// Replicas needed by the upper bound: enough capacity to serve it.
		// The bound is already the margin the target utilization gives
		// the reactive HPA; the HPA applies its target once the demand is
		// there.
		TargetPerReplica: m.CapacityPerReplica,
	}
	// The forecast starts after the last complete step, the one before
	// the step in progress: the window to now+lookAhead+startupDelay needs
	// the look-ahead plus start-up rounded up to steps, plus that step.
	horizon := int((floor.LookAhead+floor.StartupDelay+m.Step-1)/m.Step) + 1
	s, err := predictor.NewStream(predictor.StreamOptions{Step: m.Step, Tracker: predictor.TrackerOptions{Horizon: horizon}})
	if err != nil {
		return nil, err
	}
	return &predictivePolicy{stream: s, floor: floor}, nil
}

func (*predictivePolicy) Name() string { return "predictive" }

func (p *predictivePolicy) Floor(history []demand.Point, now time.Time, _ Model) int32 {
	for ; p.fed < len(history); p.fed++ {
		// A point the stream refuses (not after the step being sampled)
		// leaves the floor to the points it has.
		_ = p.stream.Observe(history[p.fed].Time, history[p.fed].Value)
	}
	res, err := p.stream.Floor(now, p.floor)
	if err != nil || !res.OK {
		return 0
	}
	return res.Replicas
}
