package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/agentsvc"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// agentsvcOpts are serve's flags of the AgentService (docs/agentservice.md).
type agentsvcOpts struct {
	heartbeat         time.Duration
	authTimeout       time.Duration
	requireClientCert bool
}

func (o *agentsvcOpts) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.heartbeat, "agent-heartbeat-interval", 10*time.Second, "heartbeat interval of the agents' Connect streams (sent to each agent); an agent silent for 3 intervals is marked offline")
	f.DurationVar(&o.authTimeout, "agent-auth-timeout", 10*time.Second, "time an agent has to send its AuthRequest after opening a Connect stream")
	f.BoolVar(&o.requireClientCert, "agent-require-client-cert", false, "refuse agents without a verified client certificate naming their cluster (needs --tls-client-ca)")
}

func (o *agentsvcOpts) validate() []error {
	var errs []error
	if o.heartbeat < time.Second {
		errs = append(errs, fmt.Errorf("--agent-heartbeat-interval %v: expected at least 1s", o.heartbeat))
	}
	if o.authTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--agent-auth-timeout %v: expected at least 100ms", o.authTimeout))
	}
	return errs
}

// historyObserver gives the AgentService's metric reports to the
// history (agentsvc.Observer over history.Service).
type historyObserver struct{ h *history.Service }

// Observe keys the series by the scaler's store name (<namespace>.<name>),
// as the REST API's forecasts read them.
func (o historyObserver) Observe(k agentsvc.SeriesKey, t time.Time, v float64) {
	o.h.Observe(history.Key{Tenant: k.Tenant, Cluster: k.Cluster, Namespace: k.Namespace, Scaler: k.StoreName(), Trigger: k.Trigger}, t, v)
}

// historyRecommender is agentsvc.Recommender over the history: the
// stored scaler's predictiveScaling settings, each trigger's target per
// replica as its agent last reported it (status), the floor trigger's
// forecast. Without predictiveScaling.enabled there is no floor.
type historyRecommender struct {
	h *history.Service
	s store.Reader
}

// defaultForecastTTL: a forecast without a look-ahead expires after this.
const defaultForecastTTL = 15 * time.Minute

func (r historyRecommender) Recommend(ctx context.Context, ref agentsvc.ScalerRef, now time.Time) (agentsvc.Forecast, error) {
	sc, err := r.s.Scaler(ctx, ref.Tenant, ref.StoreName())
	if err != nil {
		return agentsvc.Forecast{}, err
	}
	p := (*v1.PredictiveScaling)(nil)
	if sc.Spec.Advanced != nil {
		p = sc.Spec.Advanced.PredictiveScaling
	}
	if p == nil || !p.Enabled {
		return agentsvc.Forecast{FloorReason: "predictiveScaling is not enabled"}, nil
	}
	req := history.Request{Scaler: history.ScalerKey{Tenant: ref.Tenant, Cluster: sc.Cluster, Namespace: sc.Namespace, Scaler: sc.Name}, Now: now.UTC(),
		LookAhead: time.Duration(p.LookAheadMinutes) * time.Minute}
	if p.ConfidenceThreshold != nil {
		// The request's 0 is its default; the spec's 0 asks for any
		// calibrated forecast (the request's negative).
		req.ConfidenceThreshold = *p.ConfidenceThreshold
		if req.ConfidenceThreshold == 0 {
			req.ConfidenceThreshold = -1
		}
	}
	for _, t := range sc.Status.Triggers {
		v, err := strconv.ParseFloat(t.Target, 64)
		if err != nil || math.IsNaN(v) {
			v = 0
		}
		req.Triggers = append(req.Triggers, history.TriggerTarget{Trigger: t.Name, PerReplica: v})
	}
	if len(req.Triggers) == 0 {
		return agentsvc.Forecast{FloorReason: "no trigger has reported a target yet"}, nil
	}
	rec, err := r.h.Recommend(req)
	if err != nil {
		return agentsvc.Forecast{}, err
	}
	if !rec.OK {
		return agentsvc.Forecast{FloorReason: rec.Reason}, nil
	}
	f := agentsvc.Forecast{Valid: true, ComputedAt: rec.At, Floor: rec.Floor, FloorReason: rec.Reason}
	ttl := rec.LookAhead
	if ttl <= 0 {
		ttl = defaultForecastTTL
	}
	f.ExpiresAt = rec.At.Add(ttl)
	for _, t := range rec.Triggers {
		if t.Trigger != rec.Trigger {
			continue
		}
		f.Model, f.Confidence, f.Value, f.Upper = t.Model, finiteOr0(t.Confidence), finiteOr0(t.Peak), finiteOr0(t.Peak)
		for _, pt := range t.Points {
			if pt.Upper == t.Peak {
				f.Value, f.Lower = finiteOr0(pt.Value), finiteOr0(pt.Lower)
			}
		}
	}
	return f, nil
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// startAgentService makes the AgentService of the backend: the store and
// its tokens, the history as Observer and Recommender, the cost runtime
// as WorkloadObserver (each inventory's replicas and pod requests become
// cost samples) and Budgets (the budget cap sent with each
// recommendation).
//
// The service's streams end when ctx (serve's) ends, so that the gRPC
// server's graceful stop does not wait for agents that would hold them
// open until the shutdown timeout.
func startAgentService(ctx context.Context, b *backend, o *agentsvcOpts, logger *slog.Logger, reg prometheus.Registerer) (*agentsvc.Service, error) {
	if errs := o.validate(); len(errs) > 0 {
		return nil, &usageError{err: errors.Join(errs...)}
	}
	so := agentsvc.Options{
		Store:             b.store,
		Auth:              &auth.Authenticator{Store: b.store, Logger: logger, CacheTTL: time.Second},
		Logger:            logger.With("component", "agentsvc"),
		Registerer:        reg,
		Version:           version,
		HeartbeatInterval: o.heartbeat,
		AuthTimeout:       o.authTimeout,
		RequireClientCert: o.requireClientCert,
	}
	if b.history != nil {
		so.Observer = historyObserver{b.history}
		so.Recommender = historyRecommender{h: b.history, s: b.store}
	}
	if b.cost != nil && b.cost.Agents != nil {
		so.Workloads, so.Budgets = b.cost.Agents, b.cost.Agents
	}
	s, err := agentsvc.New(so)
	if err != nil {
		return nil, fmt.Errorf("agent service: %w", err)
	}
	context.AfterFunc(ctx, s.Close)
	return s, nil
}
