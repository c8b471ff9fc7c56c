package scaling

import (
	"time"
)

// KEDA's defaults.
const (
	DefaultCooldownPeriod        = 300 * time.Second
	DefaultInitialCooldownPeriod = 0
)

// Activation configures KEDA's activation step: below the HPA, a scaler
// goes to zero (or IdleReplicaCount) when no trigger is active for
// CooldownPeriod, and back to max(minReplicaCount, 1) when one is. With it,
// Spec.MinReplicas is KEDA's minReplicaCount (0 allowed).
type Activation struct {
	IdleReplicaCount    int32
	HasIdleReplicaCount bool
	// CooldownPeriod is the time since the last active trigger before
	// scaling in (KEDA default 300 s).
	CooldownPeriod time.Duration
	// InitialCooldownPeriod delays the first scale-in after creation when
	// no trigger was ever active (KEDA default 0).
	InitialCooldownPeriod time.Duration
}

// ActivationAction is what the activation step did.
type ActivationAction string

// Activation actions.
const (
	// ActionNone: nothing to do (the HPA handles the count).
	ActionNone ActivationAction = "none"
	// ActionActivate: scaled from zero or idle to max(minReplicaCount, 1).
	ActionActivate ActivationAction = "activate"
	// ActionDeactivate: scaled to idleReplicaCount or minReplicaCount
	// after the cooldown.
	ActionDeactivate ActivationAction = "deactivate"
	// ActionCooldown: inactive, waiting for the cooldown to pass.
	ActionCooldown ActivationAction = "cooldown"
	// ActionRestoreMin: inactive and below minReplicaCount without idle
	// replicas: set to minReplicaCount.
	ActionRestoreMin ActivationAction = "restoreMin"
	// ActionPausedScaleIn / ActionPausedScaleOut: the pause annotations
	// stopped a scale-in or scale-out.
	ActionPausedScaleIn  ActivationAction = "pausedScaleIn"
	ActionPausedScaleOut ActivationAction = "pausedScaleOut"
	// ActionPartialError: active, but some triggers failed.
	ActionPartialError ActivationAction = "partialError"
	// ActionTriggerError: inactive and triggers failed, no fallback.
	ActionTriggerError ActivationAction = "triggerError"
	// ActionFallbackPending: inactive and triggers failed; the HPA will
	// apply the fallback replicas.
	ActionFallbackPending ActivationAction = "fallbackPending"
)

// ActivationInput is the state KEDA's executor looks at.
type ActivationInput struct {
	CurrentReplicas     int32
	MinReplicaCount     int32
	IdleReplicaCount    int32
	HasIdleReplicaCount bool
	// Active: some trigger is above its activation threshold.
	Active bool
	// Error: some trigger failed.
	Error bool
	// FallbackReplicas, when HasFallback, is the ScaledObject's
	// fallback.replicas.
	FallbackReplicas int32
	HasFallback      bool
	// LastActive is when a trigger was last active (zero: never).
	LastActive time.Time
	// CreatedAt is the ScaledObject's creation time.
	CreatedAt             time.Time
	CooldownPeriod        time.Duration
	InitialCooldownPeriod time.Duration
	ForceActivation       bool
	PauseScaleIn          bool
	PauseScaleOut         bool
}

// ActivationResult is the outcome of Activate.
type ActivationResult struct {
	// DesiredReplicas is the count KEDA's executor sets, or the current
	// count where it sets none.
	DesiredReplicas int32
	Active          bool
	Action          ActivationAction
	// LastActiveUpdated: the executor records now as the last active time.
	LastActiveUpdated bool
}

// Scaled reports whether the executor set a replica count.
func (r ActivationResult) Scaled() bool {
	return r.Action == ActionActivate || r.Action == ActionDeactivate || r.Action == ActionRestoreMin
}

// Activate is KEDA's scale executor for ScaledObjects (RequestScale) as a
// pure function.
func Activate(in ActivationInput, now time.Time) ActivationResult {
	cur := in.CurrentReplicas
	res := ActivationResult{DesiredReplicas: cur, Active: in.Active || in.ForceActivation, Action: ActionNone}
	if res.Active {
		switch {
		case (in.HasIdleReplicaCount && cur < in.MinReplicaCount) || cur == 0:
			// Active and at zero or idle: scale up to the minimum.
			if in.PauseScaleOut {
				res.Action = ActionPausedScaleOut
				return res
			}
			replicas := int32(1)
			if in.MinReplicaCount > 0 {
				replicas = in.MinReplicaCount
			}
			res.DesiredReplicas, res.Action, res.LastActiveUpdated = replicas, ActionActivate, true
		case in.Error:
			res.Action = ActionPartialError
		default:
			// Active at a non-zero count: the HPA scales; remember activity.
			res.LastActiveUpdated = true
		}
		return res
	}
	switch {
	case in.Error && in.HasFallback && in.FallbackReplicas != 0:
		// Scaling to zero now would keep the HPA from applying the fallback.
		res.Action = ActionFallbackPending
	case in.Error && !in.HasFallback:
		res.Action = ActionTriggerError
	case (in.HasIdleReplicaCount && cur > in.IdleReplicaCount) || (cur > 0 && in.MinReplicaCount == 0):
		if in.PauseScaleIn {
			res.Action = ActionPausedScaleIn
			return res
		}
		// LastActive is unset when the target was scaled outside KEDA:
		// then only the initial cooldown since creation counts.
		cooled := (in.LastActive.IsZero() && in.CreatedAt.Add(in.InitialCooldownPeriod).Before(now)) ||
			(!in.LastActive.IsZero() && in.LastActive.Add(in.CooldownPeriod).Before(now))
		if !cooled {
			res.Action = ActionCooldown
			return res
		}
		target := in.MinReplicaCount
		if in.HasIdleReplicaCount {
			target = in.IdleReplicaCount
		}
		res.DesiredReplicas, res.Action = target, ActionDeactivate
	case !in.HasIdleReplicaCount && cur < in.MinReplicaCount:
		res.DesiredReplicas, res.Action = in.MinReplicaCount, ActionRestoreMin
	}
	return res
}

// ActivationFromTriggers reports whether any trigger value is strictly above
// its activation threshold (KEDA's IsActive).
func ActivationFromTriggers(values, thresholds []float64) bool {
	for i, v := range values {
		if i < len(thresholds) && v > thresholds[i] {
			return true
		}
	}
	return false
}

func activationInput(spec *Spec, obs *Observed) ActivationInput {
	a := spec.Activation
	in := ActivationInput{
		CurrentReplicas:       obs.CurrentReplicas,
		MinReplicaCount:       spec.MinReplicas,
		IdleReplicaCount:      a.IdleReplicaCount,
		HasIdleReplicaCount:   a.HasIdleReplicaCount,
		Active:                obs.Active,
		LastActive:            obs.LastActive,
		CreatedAt:             obs.CreatedAt,
		CooldownPeriod:        a.CooldownPeriod,
		InitialCooldownPeriod: a.InitialCooldownPeriod,
		ForceActivation:       obs.ForceActivation,
	}
	for i := range obs.Metrics {
		if obs.Metrics[i].Failed {
			in.Error = true
			break
		}
	}
	if spec.Fallback != nil {
		in.HasFallback, in.FallbackReplicas = true, spec.Fallback.Replicas
	}
	return in
}
