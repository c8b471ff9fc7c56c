package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/hpa"
)

// MaxRequestBytes bounds a request.
const MaxRequestBytes = 8 << 20

// ErrInvalid wraps every error of a request that cannot be decided.
var ErrInvalid = errors.New("invalid decision request")

// Request is one decision request as JSON.
type Request struct {
	// Name, Description and Comment are free text, ignored.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Comment     string `json:"comment,omitempty"`

	Now                   string                                         `json:"now"`
	CurrentReplicas       *int32                                         `json:"currentReplicas,omitempty"`
	StatusReplicas        *int32                                         `json:"statusReplicas,omitempty"`
	ReadyPodCount         *int32                                         `json:"readyPodCount,omitempty"`
	MinReplicas           *int32                                         `json:"minReplicas,omitempty"`
	MaxReplicas           *int32                                         `json:"maxReplicas,omitempty"`
	Metrics               []Metric                                       `json:"metrics,omitempty"`
	MetricDesiredReplicas *int32                                         `json:"metricDesiredReplicas,omitempty"`
	Behavior              *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Controller            *Controller                                    `json:"controller,omitempty"`
	FeatureGates          map[string]bool                                `json:"featureGates,omitempty"`
	ScaledToZeroCondition bool                                           `json:"scaledToZeroCondition,omitempty"`
	Recommendations       []RecommendationEntry                          `json:"recommendations,omitempty"`
	ScaleUpEvents         []EventEntry                                   `json:"scaleUpEvents,omitempty"`
	ScaleDownEvents       []EventEntry                                   `json:"scaleDownEvents,omitempty"`

	// Keda asks for KEDA's activation step alone.
	Keda *Keda `json:"keda,omitempty"`

	// Our additions, each off unless given.
	Fallback              *Fallback   `json:"fallback,omitempty"`
	Safety                *Safety     `json:"safety,omitempty"`
	CooldownPeriodSeconds *float64    `json:"cooldownPeriodSeconds,omitempty"`
	LastScaleSecondsAgo   *float64    `json:"lastScaleSecondsAgo,omitempty"`
	Budget                *Budget     `json:"budget,omitempty"`
	ForecastFloor         *int32      `json:"forecastFloor,omitempty"`
	Activation            *Activation `json:"activation,omitempty"`
}

// Metric is an autoscaling/v2 MetricSpec plus its target in milli-units
// and its current value.
type Metric struct {
	autoscalingv2.MetricSpec
	TargetMilli *int64   `json:"targetMilli,omitempty"`
	Current     *Current `json:"current,omitempty"`
}

// Current is the observed value of a metric, in integer milli-units.
type Current struct {
	// PodValuesMilli / PodRequestsMilli: Resource, ContainerResource
	// (requests for Utilization targets) and Pods.
	PodValuesMilli   []int64 `json:"podValuesMilli,omitempty"`
	PodRequestsMilli []int64 `json:"podRequestsMilli,omitempty"`
	// ValueMilli: Object.
	ValueMilli *int64 `json:"valueMilli,omitempty"`
	// ValuesMilli: External (summed).
	ValuesMilli []int64 `json:"valuesMilli,omitempty"`
	// Failed: the metric could not be read; ConsecutiveFailures counts
	// failures in a row including this one (default 1).
	Failed              bool   `json:"failed,omitempty"`
	ConsecutiveFailures *int32 `json:"consecutiveFailures,omitempty"`
	// LastKnown is the last good value, for the lastKnownValue fallback.
	LastKnown *LastKnown `json:"lastKnown,omitempty"`
}

// LastKnown is a metric's last good value and its age.
type LastKnown struct {
	SecondsAgo       float64 `json:"secondsAgo"`
	PodValuesMilli   []int64 `json:"podValuesMilli,omitempty"`
	PodRequestsMilli []int64 `json:"podRequestsMilli,omitempty"`
	ValueMilli       *int64  `json:"valueMilli,omitempty"`
	ValuesMilli      []int64 `json:"valuesMilli,omitempty"`
}

// Controller holds kube-controller-manager flags.
type Controller struct {
	Tolerance                           *float64 `json:"tolerance,omitempty"`
	DownscaleStabilizationWindowSeconds *float64 `json:"downscaleStabilizationWindowSeconds,omitempty"`
}

// RecommendationEntry is a stored recommendation.
type RecommendationEntry struct {
	SecondsAgo *float64 `json:"secondsAgo,omitempty"`
	Timestamp  string   `json:"timestamp,omitempty"`
	Replicas   *int32   `json:"replicas,omitempty"`
}

// EventEntry is a stored scale event; ReplicaChange is positive.
type EventEntry struct {
	SecondsAgo    *float64 `json:"secondsAgo,omitempty"`
	Timestamp     string   `json:"timestamp,omitempty"`
	ReplicaChange *int32   `json:"replicaChange,omitempty"`
}

// Trigger is a KEDA trigger's metric value and activation threshold.
type Trigger struct {
	Value               float64 `json:"value"`
	ActivationThreshold float64 `json:"activationThreshold"`
}

// Keda is the state KEDA's scale executor looks at.
type Keda struct {
	CurrentReplicas        *int32    `json:"currentReplicas,omitempty"`
	MinReplicaCount        *int32    `json:"minReplicaCount,omitempty"`
	IdleReplicaCount       *int32    `json:"idleReplicaCount,omitempty"`
	IsActive               *bool     `json:"isActive,omitempty"`
	Triggers               []Trigger `json:"triggers,omitempty"`
	SecondsSinceLastActive *float64  `json:"secondsSinceLastActive,omitempty"`
	SecondsSinceCreation   *float64  `json:"secondsSinceCreation,omitempty"`
	CooldownPeriod         *float64  `json:"cooldownPeriod,omitempty"`
	InitialCooldownPeriod  *float64  `json:"initialCooldownPeriod,omitempty"`
	ForceActivation        bool      `json:"forceActivation,omitempty"`
	PauseScaleIn           bool      `json:"pauseScaleIn,omitempty"`
	PauseScaleOut          bool      `json:"pauseScaleOut,omitempty"`
	IsError                bool      `json:"isError,omitempty"`
	FallbackReplicas       *int32    `json:"fallbackReplicas,omitempty"`
}

// Fallback configures our fallback (KEDA's behaviors plus lastKnownValue).
type Fallback struct {
	FailureThreshold       *int32   `json:"failureThreshold,omitempty"`
	Behavior               string   `json:"behavior,omitempty"`
	Replicas               *int32   `json:"replicas,omitempty"`
	LastKnownMaxAgeSeconds *float64 `json:"lastKnownMaxAgeSeconds,omitempty"`
}

// Safety caps one decision's change in percent of the current count.
type Safety struct {
	MaxScaleUpPercent   *int32 `json:"maxScaleUpPercent,omitempty"`
	MaxScaleDownPercent *int32 `json:"maxScaleDownPercent,omitempty"`
}

// Budget caps replicas at maxCostPerHour / pricePerReplicaHour.
type Budget struct {
	MaxCostPerHour      *float64 `json:"maxCostPerHour,omitempty"`
	PricePerReplicaHour *float64 `json:"pricePerReplicaHour,omitempty"`
}

// Activation puts KEDA's activation step in front of the HPA decision.
type Activation struct {
	IdleReplicaCount       *int32    `json:"idleReplicaCount,omitempty"`
	CooldownPeriod         *float64  `json:"cooldownPeriod,omitempty"`
	InitialCooldownPeriod  *float64  `json:"initialCooldownPeriod,omitempty"`
	IsActive               *bool     `json:"isActive,omitempty"`
	Triggers               []Trigger `json:"triggers,omitempty"`
	SecondsSinceLastActive *float64  `json:"secondsSinceLastActive,omitempty"`
	SecondsSinceCreation   *float64  `json:"secondsSinceCreation,omitempty"`
	ForceActivation        bool      `json:"forceActivation,omitempty"`
}

// Decoded is a validated request, ready for the engine.
type Decoded struct {
	Now time.Time
	// Keda is set for an activation-only request.
	Keda *scaling.ActivationInput
	// Otherwise the HPA decision inputs.
	Spec     scaling.Spec
	Observed scaling.Observed
	History  scaling.History
	// Names and types of the metrics, for the answer.
	MetricNames []string
}

// Decode reads one JSON request from r and validates it. Errors wrap
// ErrInvalid and name every bad field.
func Decode(r io.Reader) (*Decoded, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if len(raw) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: request larger than %d bytes", ErrInvalid, MaxRequestBytes)
	}
	return DecodeBytes(raw)
}

// DecodeBytes is Decode on a byte slice.
func DecodeBytes(raw []byte) (*Decoded, error) {
	var req Request
	var errs errList
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if !strings.HasPrefix(err.Error(), "json: unknown field ") {
			return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonError(err))
		}
		// Report the unknown field along with everything else wrong.
		errs = append(errs, errors.New(jsonError(err)))
		req = Request{}
		dec = json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&req); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonError(err))
		}
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: request: expected one JSON object, found more data after it", ErrInvalid)
	}
	d, verrs := req.validate()
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	return d, nil
}

func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "request"
		}
		return fmt.Sprintf("%s: %s is not a valid %s", field, te.Value, te.Type.String())
	case errors.As(err, &se):
		return fmt.Sprintf("request: invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return "request: empty, expected a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request: truncated JSON"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Sprintf("%s: unknown field", strings.Trim(f, `"`))
	}
	return "request: " + strings.TrimPrefix(msg, "json: ")
}

type errList []error

func (l *errList) add(field, format string, args ...any) {
	*l = append(*l, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (req *Request) validate() (*Decoded, errList) {
	var errs errList
	d := &Decoded{}
	if req.Now == "" {
		errs.add("now", "missing: expected an RFC 3339 time such as 2026-11-27T12:00:00Z")
	} else if t, err := time.Parse(time.RFC3339Nano, req.Now); err != nil {
		errs.add("now", "%q: expected an RFC 3339 time such as 2026-11-27T12:00:00Z", req.Now)
	} else {
		d.Now = t
	}
	if req.Keda != nil {
		req.validateKeda(d, &errs)
		return d, errs
	}
	req.validateHPA(d, &errs)
	return d, errs
}

// seconds converts a non-negative, finite number of seconds.
func seconds(errs *errList, field string, v float64) time.Duration {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1e12 {
		errs.add(field, "%v: expected a number of seconds of at least 0", v)
		return 0
	}
	return time.Duration(math.Round(v * float64(time.Second)))
}

func nonNegative(errs *errList, field string, v *int32) {
	if v != nil && *v < 0 {
		errs.add(field, "%d: expected 0 or more", *v)
	}
}

func (req *Request) validateKeda(d *Decoded, errs *errList) {
	hpaKeys := []struct {
		set  bool
		name string
	}{
		{req.CurrentReplicas != nil, "currentReplicas"}, {req.StatusReplicas != nil, "statusReplicas"},
		{req.ReadyPodCount != nil, "readyPodCount"}, {req.MinReplicas != nil, "minReplicas"},
		{req.MaxReplicas != nil, "maxReplicas"}, {req.Metrics != nil, "metrics"},
		{req.MetricDesiredReplicas != nil, "metricDesiredReplicas"}, {req.Behavior != nil, "behavior"},
		{req.Controller != nil, "controller"}, {req.FeatureGates != nil, "featureGates"},
		{req.ScaledToZeroCondition, "scaledToZeroCondition"}, {req.Recommendations != nil, "recommendations"},
		{req.ScaleUpEvents != nil, "scaleUpEvents"}, {req.ScaleDownEvents != nil, "scaleDownEvents"},
		{req.Fallback != nil, "fallback"}, {req.Safety != nil, "safety"},
		{req.CooldownPeriodSeconds != nil, "cooldownPeriodSeconds"}, {req.LastScaleSecondsAgo != nil, "lastScaleSecondsAgo"},
		{req.Budget != nil, "budget"}, {req.ForecastFloor != nil, "forecastFloor"}, {req.Activation != nil, "activation"},
	}
	for _, k := range hpaKeys {
		if k.set {
			errs.add(k.name, "not allowed in a keda (activation-only) request")
		}
	}
	k := req.Keda
	in := &scaling.ActivationInput{
		CooldownPeriod:        scaling.DefaultCooldownPeriod,
		InitialCooldownPeriod: scaling.DefaultInitialCooldownPeriod,
		ForceActivation:       k.ForceActivation,
		PauseScaleIn:          k.PauseScaleIn,
		PauseScaleOut:         k.PauseScaleOut,
		Error:                 k.IsError,
	}
	if k.CurrentReplicas == nil {
		errs.add("keda.currentReplicas", "missing: required")
	} else {
		nonNegative(errs, "keda.currentReplicas", k.CurrentReplicas)
		in.CurrentReplicas = *k.CurrentReplicas
	}
	if k.MinReplicaCount != nil {
		nonNegative(errs, "keda.minReplicaCount", k.MinReplicaCount)
		in.MinReplicaCount = *k.MinReplicaCount
	}
	if k.IdleReplicaCount != nil {
		nonNegative(errs, "keda.idleReplicaCount", k.IdleReplicaCount)
		in.IdleReplicaCount, in.HasIdleReplicaCount = *k.IdleReplicaCount, true
	}
	in.Active = activity(errs, "keda", k.IsActive, k.Triggers)
	if k.SecondsSinceLastActive != nil {
		in.LastActive = d.Now.Add(-seconds(errs, "keda.secondsSinceLastActive", *k.SecondsSinceLastActive))
	}
	if k.SecondsSinceCreation != nil {
		in.CreatedAt = d.Now.Add(-seconds(errs, "keda.secondsSinceCreation", *k.SecondsSinceCreation))
	}
	if k.CooldownPeriod != nil {
		in.CooldownPeriod = seconds(errs, "keda.cooldownPeriod", *k.CooldownPeriod)
	}
	if k.InitialCooldownPeriod != nil {
		in.InitialCooldownPeriod = seconds(errs, "keda.initialCooldownPeriod", *k.InitialCooldownPeriod)
	}
	if k.FallbackReplicas != nil {
		nonNegative(errs, "keda.fallbackReplicas", k.FallbackReplicas)
		in.FallbackReplicas, in.HasFallback = *k.FallbackReplicas, true
	}
	d.Keda = in
}

func activity(errs *errList, path string, isActive *bool, triggers []Trigger) bool {
	if isActive != nil {
		return *isActive
	}
	values := make([]float64, len(triggers))
	thresholds := make([]float64, len(triggers))
	for i, t := range triggers {
		if math.IsNaN(t.Value) || math.IsNaN(t.ActivationThreshold) {
			errs.add(fmt.Sprintf("%s.triggers[%d]", path, i), "value and activationThreshold must be numbers")
		}
		values[i], thresholds[i] = t.Value, t.ActivationThreshold
	}
	return scaling.ActivationFromTriggers(values, thresholds)
}

func (req *Request) validateHPA(d *Decoded, errs *errList) {
	spec := &d.Spec
	obs := &d.Observed
	spec.Controller = scaling.DefaultControllerConfig()
	spec.Features = scaling.DefaultFeatureGates()

	if req.CurrentReplicas == nil {
		errs.add("currentReplicas", "missing: required")
	} else {
		nonNegative(errs, "currentReplicas", req.CurrentReplicas)
		obs.CurrentReplicas = *req.CurrentReplicas
	}
	obs.StatusReplicas, obs.ReadyPodCount = obs.CurrentReplicas, obs.CurrentReplicas
	if req.StatusReplicas != nil {
		nonNegative(errs, "statusReplicas", req.StatusReplicas)
		obs.StatusReplicas = *req.StatusReplicas
	}
	if req.ReadyPodCount != nil {
		nonNegative(errs, "readyPodCount", req.ReadyPodCount)
		obs.ReadyPodCount = *req.ReadyPodCount
	}
	spec.MinReplicas = 1
	if req.MinReplicas != nil {
		nonNegative(errs, "minReplicas", req.MinReplicas)
		spec.MinReplicas = *req.MinReplicas
	}
	switch {
	case req.MaxReplicas == nil:
		errs.add("maxReplicas", "missing: required")
	case *req.MaxReplicas < 1:
		errs.add("maxReplicas", "%d: expected 1 or more", *req.MaxReplicas)
	default:
		spec.MaxReplicas = *req.MaxReplicas
		if spec.MaxReplicas < spec.MinReplicas {
			errs.add("maxReplicas", "%d: expected at least minReplicas (%d)", spec.MaxReplicas, spec.MinReplicas)
		}
	}
	obs.ScaledToZeroCondition = req.ScaledToZeroCondition

	if c := req.Controller; c != nil {
		if c.Tolerance != nil {
			if t := *c.Tolerance; math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
				errs.add("controller.tolerance", "%v: expected a number of at least 0", t)
			} else {
				spec.Controller.Tolerance = t
			}
		}
		if w := c.DownscaleStabilizationWindowSeconds; w != nil {
			spec.Controller.DownscaleStabilizationWindow = seconds(errs, "controller.downscaleStabilizationWindowSeconds", *w)
		}
	}
	for name, on := range req.FeatureGates {
		switch name {
		case "HPAScaleToZero":
			spec.Features.HPAScaleToZero = on
		case "HPAConfigurableTolerance":
			spec.Features.HPAConfigurableTolerance = on
		default:
			errs.add("featureGates."+name, "unknown feature gate: expected HPAScaleToZero or HPAConfigurableTolerance")
		}
	}
	if b, err := hpa.Behavior("behavior", req.Behavior); err != nil {
		*errs = append(*errs, err)
	} else {
		spec.Behavior = b
	}

	switch {
	case len(req.Metrics) > 0 && req.MetricDesiredReplicas != nil:
		errs.add("metricDesiredReplicas", "not allowed together with metrics: give one of them")
	case req.MetricDesiredReplicas != nil:
		nonNegative(errs, "metricDesiredReplicas", req.MetricDesiredReplicas)
		obs.MetricDesiredReplicas, obs.HasMetricDesiredReplicas = *req.MetricDesiredReplicas, true
	case len(req.Metrics) == 0:
		errs.add("metrics", "missing: give metrics (with current values) or metricDesiredReplicas")
	}
	for i := range req.Metrics {
		req.validateMetric(d, i, errs)
	}

	d.History.MarkWritten()
	for i, r := range req.Recommendations {
		path := fmt.Sprintf("recommendations[%d]", i)
		at := entryTime(errs, path, d.Now, r.SecondsAgo, r.Timestamp)
		if r.Replicas == nil {
			errs.add(path+".replicas", "missing: required")
			continue
		}
		nonNegative(errs, path+".replicas", r.Replicas)
		d.History.AddRecommendation(*r.Replicas, at)
	}
	for _, dir := range []struct {
		name   string
		up     bool
		events []EventEntry
	}{{"scaleUpEvents", true, req.ScaleUpEvents}, {"scaleDownEvents", false, req.ScaleDownEvents}} {
		for i, e := range dir.events {
			path := fmt.Sprintf("%s[%d]", dir.name, i)
			at := entryTime(errs, path, d.Now, e.SecondsAgo, e.Timestamp)
			if e.ReplicaChange == nil {
				errs.add(path+".replicaChange", "missing: required")
				continue
			}
			nonNegative(errs, path+".replicaChange", e.ReplicaChange)
			d.History.AddScaleEvent(dir.up, *e.ReplicaChange, at)
		}
	}
	req.validateAdditions(d, errs)
}

// entryTime places a history entry: secondsAgo is authoritative; a
// timestamp alone is used when secondsAgo is missing.
func entryTime(errs *errList, path string, now time.Time, secondsAgo *float64, timestamp string) time.Time {
	if secondsAgo != nil {
		return now.Add(-seconds(errs, path+".secondsAgo", *secondsAgo))
	}
	if timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, timestamp)
		if err != nil {
			errs.add(path+".timestamp", "%q: expected an RFC 3339 time", timestamp)
			return now
		}
		if t.After(now) {
			errs.add(path+".timestamp", "%q: after now", timestamp)
		}
		return t
	}
	errs.add(path+".secondsAgo", "missing: required")
	return now
}

func (req *Request) validateMetric(d *Decoded, i int, errs *errList) {
	m := &req.Metrics[i]
	path := fmt.Sprintf("metrics[%d]", i)
	ms, err := hpa.Metric(path, &m.MetricSpec, m.TargetMilli)
	if err != nil {
		*errs = append(*errs, err)
	}
	d.Spec.Metrics = append(d.Spec.Metrics, ms)
	name := ms.Name
	if name == "" {
		name = ms.Type.String()
	}
	d.MetricNames = append(d.MetricNames, name)
	var mv scaling.MetricValue
	defer func() { d.Observed.Metrics = append(d.Observed.Metrics, mv) }()
	c := m.Current
	if c == nil {
		errs.add(path+".current", "missing: required (the observed value in milli-units, or failed: true)")
		return
	}
	cpath := path + ".current"
	if c.Failed {
		mv.Failed, mv.Failures = true, 1
		if c.ConsecutiveFailures != nil {
			if *c.ConsecutiveFailures < 1 {
				errs.add(cpath+".consecutiveFailures", "%d: expected 1 or more for a failed metric", *c.ConsecutiveFailures)
			}
			mv.Failures = *c.ConsecutiveFailures
		}
		if lk := c.LastKnown; lk != nil {
			lv := values(errs, cpath+".lastKnown", ms, lk.PodValuesMilli, lk.PodRequestsMilli, lk.ValueMilli, lk.ValuesMilli)
			mv.LastKnown = &lv
			mv.LastKnownAt = d.Now.Add(-seconds(errs, cpath+".lastKnown.secondsAgo", lk.SecondsAgo))
		}
		return
	}
	if c.ConsecutiveFailures != nil || c.LastKnown != nil {
		errs.add(cpath, "consecutiveFailures and lastKnown are only for a failed metric")
	}
	mv = values(errs, cpath, ms, c.PodValuesMilli, c.PodRequestsMilli, c.ValueMilli, c.ValuesMilli)
}

func values(errs *errList, path string, ms scaling.MetricSpec, pods, requests []int64, value *int64, series []int64) scaling.MetricValue {
	mv := scaling.MetricValue{}
	switch ms.Type {
	case scaling.ResourceMetric, scaling.ContainerResourceMetric, scaling.PodsMetric:
		if pods == nil {
			errs.add(path+".podValuesMilli", "missing: required for a %s metric", ms.Type)
		}
		sum := nonNegativeSum(errs, path+".podValuesMilli", pods)
		if ms.Target == scaling.UtilizationTarget {
			if sum > math.MaxInt64/100 {
				errs.add(path+".podValuesMilli", "sum %d too large to take a percentage of", sum)
			}
			switch {
			case requests == nil:
				errs.add(path+".podRequestsMilli", "missing: required for a Utilization target")
			case len(requests) != len(pods):
				errs.add(path+".podRequestsMilli", "%d values: expected one per pod (%d)", len(requests), len(pods))
			}
			nonNegativeSum(errs, path+".podRequestsMilli", requests)
		}
		mv.PodValuesMilli, mv.PodRequestsMilli = pods, requests
	case scaling.ObjectMetric:
		if value == nil {
			errs.add(path+".valueMilli", "missing: required for an Object metric")
		} else {
			mv.ValueMilli = *value
		}
	case scaling.ExternalMetric:
		if series == nil {
			errs.add(path+".valuesMilli", "missing: required for an External metric")
		}
		mv.ValuesMilli = series
	}
	return mv
}

// nonNegativeSum reports every negative value of vs (the list at path) and
// a sum that overflows int64, and returns the sum of the values before any
// overflow.
func nonNegativeSum(errs *errList, path string, vs []int64) int64 {
	var sum int64
	for j, v := range vs {
		if v < 0 {
			errs.add(fmt.Sprintf("%s[%d]", path, j), "%d: expected 0 or more", v)
		}
		if s := sum + v; v > 0 && s < sum {
			errs.add(path, "sum overflows int64")
			break
		} else {
			sum = s
		}
	}
	return sum
}

func (req *Request) validateAdditions(d *Decoded, errs *errList) {
	spec, obs := &d.Spec, &d.Observed
	if f := req.Fallback; f != nil {
		fb := &scaling.Fallback{FailureThreshold: scaling.DefaultFailureThreshold, LastKnownMaxAge: scaling.DefaultLastKnownMaxAge}
		if f.FailureThreshold != nil {
			nonNegative(errs, "fallback.failureThreshold", f.FailureThreshold)
			fb.FailureThreshold = *f.FailureThreshold
		}
		b, err := scaling.ParseFallbackBehavior(f.Behavior)
		if err != nil {
			errs.add("fallback.behavior", "%v", err)
		}
		fb.Behavior = b
		if f.Replicas != nil {
			nonNegative(errs, "fallback.replicas", f.Replicas)
			fb.Replicas = *f.Replicas
		} else if err == nil && (b == scaling.FallbackStatic || b == scaling.FallbackCurrentReplicasIfHigher || b == scaling.FallbackCurrentReplicasIfLower) {
			// An unknown behavior is reported alone: what it would need is
			// unknown too.
			errs.add("fallback.replicas", "missing: required for behavior %s", b)
		}
		if f.LastKnownMaxAgeSeconds != nil {
			fb.LastKnownMaxAge = seconds(errs, "fallback.lastKnownMaxAgeSeconds", *f.LastKnownMaxAgeSeconds)
		}
		spec.Fallback = fb
	}
	if s := req.Safety; s != nil {
		sf := &scaling.Safety{}
		if s.MaxScaleUpPercent != nil {
			nonNegative(errs, "safety.maxScaleUpPercent", s.MaxScaleUpPercent)
			sf.MaxScaleUpPercent = *s.MaxScaleUpPercent
		}
		if s.MaxScaleDownPercent != nil {
			if v := *s.MaxScaleDownPercent; v < 0 || v > 100 {
				errs.add("safety.maxScaleDownPercent", "%d: expected 0 to 100", v)
			}
			sf.MaxScaleDownPercent = *s.MaxScaleDownPercent
		}
		spec.Safety = sf
	}
	if c := req.CooldownPeriodSeconds; c != nil {
		spec.CooldownPeriod = seconds(errs, "cooldownPeriodSeconds", *c)
	}
	if l := req.LastScaleSecondsAgo; l != nil {
		obs.LastScaleTime = d.Now.Add(-seconds(errs, "lastScaleSecondsAgo", *l))
	}
	if b := req.Budget; b != nil {
		bg := &scaling.Budget{}
		switch {
		case b.MaxCostPerHour == nil:
			errs.add("budget.maxCostPerHour", "missing: required")
		case math.IsNaN(*b.MaxCostPerHour) || math.IsInf(*b.MaxCostPerHour, 0) || *b.MaxCostPerHour < 0:
			errs.add("budget.maxCostPerHour", "%v: expected a cost of at least 0", *b.MaxCostPerHour)
		default:
			bg.MaxCostPerHour = *b.MaxCostPerHour
		}
		switch {
		case b.PricePerReplicaHour == nil:
			errs.add("budget.pricePerReplicaHour", "missing: required")
		case math.IsNaN(*b.PricePerReplicaHour) || math.IsInf(*b.PricePerReplicaHour, 0) || *b.PricePerReplicaHour <= 0:
			errs.add("budget.pricePerReplicaHour", "%v: expected a price greater than 0", *b.PricePerReplicaHour)
		default:
			bg.PricePerReplicaHour = *b.PricePerReplicaHour
		}
		spec.Budget = bg
	}
	if f := req.ForecastFloor; f != nil {
		nonNegative(errs, "forecastFloor", f)
		obs.ForecastFloor = *f
	}
	if a := req.Activation; a != nil {
		act := &scaling.Activation{CooldownPeriod: scaling.DefaultCooldownPeriod, InitialCooldownPeriod: scaling.DefaultInitialCooldownPeriod}
		if a.IdleReplicaCount != nil {
			nonNegative(errs, "activation.idleReplicaCount", a.IdleReplicaCount)
			act.IdleReplicaCount, act.HasIdleReplicaCount = *a.IdleReplicaCount, true
		}
		if a.CooldownPeriod != nil {
			act.CooldownPeriod = seconds(errs, "activation.cooldownPeriod", *a.CooldownPeriod)
		}
		if a.InitialCooldownPeriod != nil {
			act.InitialCooldownPeriod = seconds(errs, "activation.initialCooldownPeriod", *a.InitialCooldownPeriod)
		}
		obs.Active = activity(errs, "activation", a.IsActive, a.Triggers)
		if a.SecondsSinceLastActive != nil {
			obs.LastActive = d.Now.Add(-seconds(errs, "activation.secondsSinceLastActive", *a.SecondsSinceLastActive))
		}
		if a.SecondsSinceCreation != nil {
			obs.CreatedAt = d.Now.Add(-seconds(errs, "activation.secondsSinceCreation", *a.SecondsSinceCreation))
		}
		obs.ForceActivation = a.ForceActivation
		spec.Activation = act
	}
}
